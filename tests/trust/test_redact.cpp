#include <gtest/gtest.h>

#include "dari/trust/trust.h"

namespace dari::trust {
namespace {

TEST(Redact, EmailsPhonesAndResidentNumbers) {
  struct Case {
    const char* in;
    const char* out;
  };
  const Case cases[] = {
      {"mail kim.minsu+x@example.co.kr now", "mail [EMAIL] now"},
      {"휴대폰 010-1234-5678 입니다", "휴대폰 [PHONE] 입니다"},
      {"휴대폰 01012345678", "휴대폰 [PHONE]"},
      {"서울 02-123-4567, 경기 031-987-6543", "서울 [PHONE], 경기 [PHONE]"},
      {"call +82 10-1234-5678 or +82-2-3456-7890", "call [PHONE] or [PHONE]"},
      {"US +1 415 555 2671", "US [PHONE]"},
      {"고객센터 1588-1234", "고객센터 [PHONE]"},
      {"주민번호 900101-1234567 확인", "주민번호 [RRN] 확인"},
      {"rrn 0501014123456.", "rrn [RRN]."},
      {"외국인 851231-5234567", "외국인 [RRN]"},
  };
  for (const Case& c : cases) EXPECT_EQ(redact_pii(c.in), c.out) << c.in;
}

TEST(Redact, LeavesOrdinaryTextAlone) {
  for (const char* s : {"The year 2026 and version 3.14.", "Order #12345 costs 9,900 won.",
                        "Psalm 23:1-6", "an @ sign alone", "시간 10:30-11:45", ""}) {
    EXPECT_EQ(redact_pii(s), s);
  }
}

TEST(Redact, SurvivesInvalidUtf8) {
  std::string s = "a\xff\xfe b@c.io \xc3";
  std::string r = redact_pii(s);
  EXPECT_NE(r.find("[EMAIL]"), std::string::npos);
}

}  // namespace
}  // namespace dari::trust
