// Unit tests of the Jinja interpreter: language features, Python value semantics, errors, limits.
#include <gtest/gtest.h>

#include <string>

#include "dari/template/chat_template.h"
#include "dari/template/template.h"

namespace {

using dari::jinja::RenderLimits;
using dari::jinja::Template;
using dari::jinja::TemplateOptions;
using Json = nlohmann::ordered_json;

std::string render(const std::string& src, const Json& ctx = Json::object(), TemplateOptions opt = {},
                   RenderLimits limits = {}) {
  auto t = Template::parse(src, opt);
  if (!t.ok()) return "PARSE ERROR: " + t.message();
  auto r = t->render(ctx, 0, limits);
  if (!r.ok()) return "RENDER ERROR: " + r.message();
  return *r;
}

std::string error_of(const std::string& src, const Json& ctx = Json::object(), RenderLimits limits = {}) {
  auto t = Template::parse(src);
  if (!t.ok()) return t.message();
  auto r = t->render(ctx, 0, limits);
  return r.ok() ? "NO ERROR: " + *r : r.message();
}

TemplateOptions hf() { return TemplateOptions{true, true}; }

TEST(TemplateLexer, WhitespaceControl) {
  EXPECT_EQ(render("a  {{- 'b' -}}  c"), "abc");
  EXPECT_EQ(render("a \n {%- if true %} b {% endif -%} \n c"), "a b c");
  EXPECT_EQ(render("x {#- comment -#} y"), "xy");
  EXPECT_EQ(render("line\n"), "line");  // keep_trailing_newline=False
  EXPECT_EQ(render("line\n\n"), "line\n");
}

TEST(TemplateLexer, TrimAndLstripBlocks) {
  const std::string src = "<ul>\n  {% for x in [1, 2] %}\n  <li>{{ x }}</li>\n  {% endfor %}\n</ul>";
  EXPECT_EQ(render(src, Json::object(), hf()), "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>");
  EXPECT_EQ(render(src), "<ul>\n  \n  <li>1</li>\n  \n  <li>2</li>\n  \n</ul>");
  // `+` disables lstrip for one tag.
  EXPECT_EQ(render("  {%+ if true %}x{% endif %}", Json::object(), hf()), "  x");
}

TEST(TemplateLexer, RawAndStringsWithDelimiters) {
  EXPECT_EQ(render("{% raw %}{{ not }}{% if %}{% endraw %}"), "{{ not }}{% if %}");
  EXPECT_EQ(render("{{ '%}' ~ \"}}\" }}"), "%}}}");
  EXPECT_EQ(render("{{ 'a\\nb\\t\\'q\\' \\u00e9' }}"), "a\nb\t'q' \xc3\xa9");
  EXPECT_EQ(render("{{ {'a': {'b': 1}} }}"), "{'a': {'b': 1}}");
}

TEST(TemplateValues, PythonPrinting) {
  EXPECT_EQ(render("{{ [1, 'a', none, true, 1.0, 2.5] }}"), "[1, 'a', None, True, 1.0, 2.5]");
  EXPECT_EQ(render("{{ True }} {{ none }} {{ undefined_var }}|"), "True None |");
  EXPECT_EQ(render("{{ 0.1 + 0.2 }} {{ 1e16 }} {{ 0.00001 }} {{ 1e15 }}"),
            "0.30000000000000004 1e+16 1e-05 1000000000000000.0");
  EXPECT_EQ(render("{{ [\"it's\"] }}"), "[\"it's\"]");
  EXPECT_EQ(render("{{ x }}", Json{{"x", {{"b", 1}, {"a", nullptr}}}}), "{'b': 1, 'a': None}");
}

TEST(TemplateValues, Arithmetic) {
  EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 1 / 2 }} {{ 4 / 2 }}"),
            "3 -4 -2 1024 0.5 2.0");
  EXPECT_EQ(render("{{ 'ab' * 3 }} {{ [1] + [2] }} {{ 1 ~ 'x' ~ none }} {{ -(3) + 1.5 }}"),
            "ababab [1, 2] 1xNone -1.5");
  EXPECT_EQ(render("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' in 'cat' }} {{ 2 not in [1] }}"),
            "True False True True True");
  EXPECT_EQ(render("{{ 1 if false }}|{{ 'y' if 0 else 'n' }}|{{ none or 'd' }}|{{ 0 and 1 }}"), "|n|d|0");
}

TEST(TemplateValues, SlicingAndIndexing) {
  Json ctx = {{"xs", {1, 2, 3, 4}}, {"s", "h\xc3\xa9llo"}};
  EXPECT_EQ(render("{{ xs[::-1] }} {{ xs[-2:] }} {{ xs[1:3] }} {{ xs[::2] }} {{ xs[-1] }}", ctx),
            "[4, 3, 2, 1] [3, 4] [2, 3] [1, 3] 4");
  EXPECT_EQ(render("{{ s[1:3] }} {{ s[1] }} {{ s[::-1] }} {{ s|length }}", ctx), "\xc3\xa9l \xc3\xa9 oll\xc3\xa9h 5");
  EXPECT_EQ(render("{{ xs[10] is defined }} {{ xs.0 }}", ctx), "False 1");
}

TEST(TemplateStatements, ForLoop) {
  EXPECT_EQ(render("{% for x in [1,2,3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
                   "{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}"),
            "103TrueFalse3;212FalseFalse3;321FalseTrue3;");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}", Json{{"d", {{"b", 1}, {"a", 2}}}}),
            "b=1,a=2,");
  EXPECT_EQ(render("{% for k in d %}{{ k }}{% endfor %}", Json{{"d", {{"b", 1}, {"a", 2}}}}), "ba");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for x in range(10) if x is odd %}{{ x }}{{ loop.length }} {% endfor %}"),
            "15 35 55 75 95 ");
  EXPECT_EQ(render("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}"
                   "{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
            "013");
  EXPECT_EQ(render("{% for (a, b) in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}"), "37");
  EXPECT_EQ(render("{% for x in 'ab' %}{{ loop.cycle('o', 'e') }}{{ x }}{% endfor %}"), "oaeb");
}

TEST(TemplateStatements, ScopingAndNamespace) {
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}"), "1");
  EXPECT_EQ(render("{% set ns = namespace(x=1) %}{% for i in [1, 2] %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}"),
            "4");
  EXPECT_EQ(render("{% if true %}{% set y = 5 %}{% endif %}{{ y }}"), "5");
  EXPECT_EQ(render("{% set a, b = [1, 2] %}{{ b }}{{ a }}"), "21");
  EXPECT_EQ(render("{% set t %}  Hi {{ 1 }}  {% endset %}[{{ t }}]"), "[  Hi 1  ]");
  EXPECT_EQ(render("{% set t | upper %}hi{% endset %}{{ t }}"), "HI");
  EXPECT_EQ(render("{% set xs = [] %}{% do xs.append(1) %}{{ xs.append(2) }}{{ xs }}"), "None[1, 2]");
}

TEST(TemplateStatements, MacrosCallFilterGeneration) {
  EXPECT_EQ(render("{% macro m(a, b='B', c=none) %}{{ a }}{{ b }}{{ c }}{% endmacro %}"
                   "{{ m(1) }}|{{ m(1, c=3) }}|{{ m(a=2, b=4) }}"),
            "1BNone|1B3|24None");
  EXPECT_EQ(render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}"),
            "321");
  EXPECT_EQ(render("{% macro w() %}<{{ caller() }}>{% endmacro %}{% call w() %}in{% endcall %}"), "<in>");
  EXPECT_EQ(render("{% macro w() %}{{ caller(2) }}{% endmacro %}{% call(x) w() %}x={{ x }}{% endcall %}"), "x=2");
  EXPECT_EQ(render("{% filter upper %}abc{% endfilter %}"), "ABC");
  EXPECT_EQ(render("{% generation %}gen{% endgeneration %}"), "gen");
  EXPECT_EQ(render("{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, k=2) }}"), "(1,){'k': 2}");
}

TEST(TemplateBuiltins, Tests) {
  Json ctx = {{"s", "x"}, {"n", nullptr}, {"d", Json::object()}, {"l", Json::array()}};
  EXPECT_EQ(render("{{ s is string }}{{ n is none }}{{ d is mapping }}{{ l is iterable }}{{ q is defined }}"
                   "{{ q is undefined }}{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 1 is integer }}"
                   "{{ 1.5 is number }}{{ true is boolean }}{{ 'a' is equalto 'a' }}{{ l is sequence }}"
                   "{{ d is not mapping }}",
                   ctx),
            "TrueTrueTrueTrueFalseTrueTrueTrueTrueTrueTrueTrueTrueTrueFalse");
}

TEST(TemplateBuiltins, Filters) {
  Json ctx = {{"users", {{{"name", "b"}, {"age", 3}}, {{"name", "a"}, {"age", 5}}, {{"name", "c"}}}}};
  EXPECT_EQ(render("{{ users|map(attribute='name')|join(',') }}", ctx), "b,a,c");
  EXPECT_EQ(render("{{ users|selectattr('age', 'defined')|map(attribute='name')|list }}", ctx), "['b', 'a']");
  EXPECT_EQ(render("{{ users|rejectattr('age')|list|length }}", ctx), "1");
  EXPECT_EQ(render("{{ users|sort(attribute='name')|map(attribute='name')|join }}", ctx), "abc");
  EXPECT_EQ(render("{{ [3, 1, 2]|sort(reverse=true) }} {{ [1, 2, 1]|unique|list }} {{ [1, 2]|first }}{{ [1, 2]|last }}"),
            "[3, 2, 1] [1, 2] 12");
  EXPECT_EQ(render("{{ '  x  '|trim }}|{{ u|default('d') }}|{{ ''|default('d', true) }}|{{ 'ab'|upper }}"),
            "x|d|d|AB");
  EXPECT_EQ(render("{{ 'hello world'|title }} {{ 'hELLO'|capitalize }} {{ '\xc3\xa9t\xc3\xa9'|upper }}"),
            "Hello World Hello \xc3\x89T\xc3\x89");
  EXPECT_EQ(render("{{ 'a\nb\n\nc'|indent(2) }}|{{ 'x'|indent(2, true) }}"), "a\n  b\n\n  c|  x");
  EXPECT_EQ(render("{{ 'aaa'|replace('a', 'b', 2) }} {{ '3'|int + 1 }} {{ 'x'|int(7) }} {{ 2|float }} {{ -3|abs }}"),
            "bba 4 7 2.0 3");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2}|dictsort }} {{ {'k': 'v'}|items|list }} {{ 2.567|round(2) }}"),
            "[('a', 2), ('b', 1)] [('k', 'v')] 2.57");
  EXPECT_EQ(render("{{ '%s=%d %.2f %5s|%-3d|%x %%'|format('a', 3, 2.5, 'r', 7, 255) }} {{ 'v:%(k)s' % {'k': 1} }}"),
            "a=3 2.50     r|7  |ff % v:1");
  EXPECT_EQ(render("{{ (1, 2) }} {{ (1,) }} {{ 3|round }} {{ -0.0 }}"), "(1, 2) (1,) 3 -0.0");
  EXPECT_EQ(render("{{ [1, 2, 3]|select('odd')|list }} {{ [1, 2, 3]|reject('odd')|list }} {{ [1,2,3]|sum }}"),
            "[1, 3] [2] 6");
  EXPECT_EQ(render("{{ ['a', 'b']|map('upper')|join('-') }} {{ '<&>'|e }} {{ 'a b  c'|wordcount }}"),
            "A-B &lt;&amp;&gt; 3");
}

TEST(TemplateBuiltins, ToJson) {
  Json ctx = {{"v", {{"b", {1, 2.5, true, nullptr}}, {"a", "\xc3\xa9\"\n"}}}};
  EXPECT_EQ(render("{{ v|tojson }}", ctx), "{\"b\": [1, 2.5, true, null], \"a\": \"\xc3\xa9\\\"\\n\"}");
  EXPECT_EQ(render("{{ v|tojson(indent=2) }}", ctx),
            "{\n  \"b\": [\n    1,\n    2.5,\n    true,\n    null\n  ],\n  \"a\": \"\xc3\xa9\\\"\\n\"\n}");
  EXPECT_EQ(render("{{ v|tojson(sort_keys=true, separators=(',', ':')) }}", ctx),
            "{\"a\":\"\xc3\xa9\\\"\\n\",\"b\":[1,2.5,true,null]}");
  EXPECT_EQ(render("{{ {}|tojson }}{{ []|tojson(indent=4) }}{{ 'x'|tojson(ensure_ascii=true) }}"), "{}[]\"x\"");
}

TEST(TemplateBuiltins, Methods) {
  EXPECT_EQ(render("{{ ' a b '.strip() }}|{{ 'xxaxx'.lstrip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}"),
            "a b|axx|['a', 'b', '', 'c']|['a', 'b']");
  EXPECT_EQ(render("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'abc'.find('c') }}"
                   "{{ 'a-b'.replace('-', '+') }}{{ 'x'.upper() }}{{ '{} {name}'.format(1, name='n') }}"),
            "TrueTrue2a+bX1 n");
  Json ctx = {{"d", {{"a", 1}}}};
  EXPECT_EQ(render("{{ d.get('a') }}{{ d.get('z') }}{{ d.get('z', 2) }}{{ d.keys()|list }}{{ d.values()|list }}", ctx),
            "1None2['a'][1]");
  EXPECT_EQ(render("{{ 'a</think>b'.split('</think>')[-1] }}"), "b");
}

// `safe` / `escape` make markupsafe.Markup values. Python Jinja escapes the plain operand when a
// Markup meets a plain string (+, %, join, format, replace, strip ...), even without autoescape;
// `~`, the join / replace filters and tojson give plain strings. Expected strings: Python Jinja2
// 3.1.2 with markupsafe 2.1.2.
TEST(TemplateBuiltins, SafeMarkupEscapesPlainOperands) {
  const std::pair<std::string, std::string> cases[] = {
      {"{{ \"<a>\"|safe + \"<b>\" }}", "<a>&lt;b&gt;"},
      {"{{ \"<b>\" + \"<a>\"|safe }}", "&lt;b&gt;<a>"},
      {"{{ (\"<a>\"|safe) ~ \"<b>\" }}", "<a><b>"},
      {"{{ \"x\"|safe + \"y\"|safe + \"<\" }}", "xy&lt;"},
      {"{{ \"<a>\"|e|e }}", "&lt;a&gt;"},
      {"{{ \"<a>\"|safe|e }}", "<a>"},
      {"{{ (\"<a>\"|safe)|forceescape }}", "&lt;a&gt;"},
      {"{{ (\"<%s>\"|safe) % \"&\" }}", "<&amp;>"},
      {"{{ (\"%s|%r\"|safe) % (\"<\", \"<\") }}", "&lt;|&#39;&lt;&#39;"},
      {"{{ (\"%d%%\"|safe) % 5 }}", "5%"},
      {"{{ \"<%s>\" % (\"&\"|safe) }}", "<&>"},
      {"{{ (\"<a>\"|safe)|upper + \"<\" }}", "<A>&lt;"},
      {"{{ (\"<a> b\"|safe)|title + \"<\" }}", "<A> B<"},
      {"{{ (\"  <a>  \"|safe)|trim + \"<\" }}", "<a>&lt;"},
      {"{{ (\"<a>\"|safe)|string + \"<\" }}", "<a>&lt;"},
      {"{{ (5|safe) + \"<\" }}", "5&lt;"},
      {"{{ (\"<a>\"|safe)|reverse + \"<\" }}", ">a<&lt;"},
      {"{{ (\"<a>\"|safe)[0] + \"<\" }}", "<&lt;"},
      {"{{ (\"<a>\"|safe)[1:] + \"<\" }}", "a>&lt;"},
      {"{{ (\"<a>\"|safe) * 2 + \"<\" }}", "<a><a>&lt;"},
      {"{{ (\"&lt;a\"|safe).replace(\"<\", \"[\") + \"<\" }}", "[a&lt;"},
      {"{{ (\";<a>;\"|safe).strip(\"<;\") + \"<\" }}", "<a>&lt;"},
      {"{{ (\", \"|safe).join([\"<\", \"b\"|safe, 3]) }}", "&lt;, b, 3"},
      {"{{ (\"a,b\"|safe).split(\",\") }}", "[Markup('a'), Markup('b')]"},
      {"{{ (\"{}-{}\"|safe).format(\"<\", \"<\"|safe) }}", "&lt;-<"},
      {"{{ (\"<a>\"|safe) is escaped }}", "True"},
      {"{{ \"<a>\" is escaped }}", "False"},
      {"{{ (\"<a>\"|safe) == \"<a>\" }}", "True"},
      {"{{ ([\"<\"|safe, \"&\"])|join(\",\") + \"<\" }}", "<,&<"},
      {"{{ (\"<a>\"|safe)|replace(\"a\", \"<\") + \"<\" }}", "<<><"},
      {"{{ (\"<%s>\"|safe)|format(\"&\") }}", "<&amp;>"},
      {"{{ (\"<a>\"|safe).removeprefix(\"<\") + \"<\" }}", "a><"},
      {"{{ (\"<a>\"|safe)|tojson }}", "\"<a>\""},
      {"{{ \"대통령 '<b>'\"|safe + \" & 한국어 \\\"<i>\\\"\" }}", "대통령 '<b>' &amp; 한국어 &#34;&lt;i&gt;&#34;"},
      {"{{ \"도구: \"|safe + \"<서울>\" + \"'\"|safe }}", "도구: &lt;서울&gt;'"},
  };
  for (const auto& [src, expected] : cases) EXPECT_EQ(render(src), expected) << src;
  EXPECT_NE(error_of("{{ ('x'|safe) + 1 }}").find("unsupported operand"), std::string::npos);
}

// meetkai-functionary-medium-v3.1 builds its tool list as "..."|safe + name + ... + tojson:
// name, description and the JSON are escaped (the golden files cover whole conversations).
TEST(TemplateBuiltins, SafeConcatenationInToolList) {
  Json ctx = {{"t", {{"name", "f<1>"}, {"description", "a & 'b'"}}}};
  EXPECT_EQ(render("{{ \"Use '\"|safe + t['name'] + \"' to '\"|safe + t['description'] + \"'\\n\"|safe + t | tojson }}",
                   ctx),
            "Use 'f&lt;1&gt;' to 'a &amp; &#39;b&#39;'\n{&#34;name&#34;: &#34;f&lt;1&gt;&#34;, "
            "&#34;description&#34;: &#34;a &amp; &#39;b&#39;&#34;}");
}

TEST(TemplateBuiltins, Globals) {
  EXPECT_EQ(render("{{ range(3)|list }}{{ range(1, 7, 2)|list }}{{ range(3, 0, -1)|list }}"),
            "[0, 1, 2][1, 3, 5][3, 2, 1]");
  EXPECT_EQ(render("{{ dict(a=1, b='x') }}{% set j = joiner('/') %}{% for x in 'ab' %}{{ j() }}{{ x }}{% endfor %}"),
            "{'a': 1, 'b': 'x'}a/b");
  auto t = Template::parse("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d') }}");
  ASSERT_TRUE(t.ok());
  auto r = t->render(Json::object(), 1721952000);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, "26 Jul 2024|2024-07-26");
}

TEST(TemplateErrors, RaiseExceptionMessageSurfaces) {
  std::string e = error_of("line1\n{{ raise_exception('System role not supported') }}");
  EXPECT_NE(e.find("System role not supported"), std::string::npos) << e;
  EXPECT_NE(e.find("line 2"), std::string::npos) << e;
}

TEST(TemplateErrors, UnknownFilterAndTestNamed) {
  std::string e = error_of("{{ x | frobnicate }}");
  EXPECT_NE(e.find("no filter named 'frobnicate'"), std::string::npos) << e;
  e = error_of("{{ x is frob }}");
  EXPECT_NE(e.find("no test named 'frob'"), std::string::npos) << e;
}

TEST(TemplateErrors, UnterminatedBlocksNameLines) {
  std::string e = error_of("a\n\n{% if x %}\nbody");
  EXPECT_NE(e.find("line 3"), std::string::npos) << e;
  EXPECT_NE(e.find("endif"), std::string::npos) << e;
  e = error_of("ok\n{{ x ");
  EXPECT_NE(e.find("line 2, column 1"), std::string::npos) << e;
  EXPECT_NE(error_of("{% for x in y %}").find("endfor"), std::string::npos);
  EXPECT_NE(error_of("{{ 'abc }}").find("unterminated string"), std::string::npos);
  EXPECT_NE(error_of("{# c").find("unterminated comment"), std::string::npos);
  EXPECT_NE(error_of("a\n{% endif %}").find("line 2, column 4: unexpected 'endif'"), std::string::npos);
  EXPECT_NE(error_of("{% bogus %}").find("unknown or unsupported tag 'bogus'"), std::string::npos);
  EXPECT_NE(error_of("{{ (1 ] }}").find("expected ')'"), std::string::npos);
  EXPECT_NE(error_of("{{ (1 }}").find("expected '}}'"), std::string::npos);
}

TEST(TemplateErrors, PythonTypeErrors) {
  EXPECT_NE(error_of("{{ 'a' + {} }}").find("unsupported operand type(s) for +: 'str' and 'dict'"), std::string::npos);
  EXPECT_NE(error_of("{{ u.x }}").find("'u' is undefined"), std::string::npos);
  EXPECT_NE(error_of("{{ u + 1 }}").find("'u' is undefined"), std::string::npos);
  EXPECT_NE(error_of("{{ [1]|map('string')|tojson }}").find("generator"), std::string::npos);
  EXPECT_NE(error_of("{{ 1 // 0 }}").find("division"), std::string::npos);
  EXPECT_NE(error_of("{{ 9223372036854775807 + 1 }}").find("overflow"), std::string::npos);
  EXPECT_NE(error_of("{% set x = 1 %}{% set x.a = 2 %}").find("namespace"), std::string::npos);
  EXPECT_EQ(render("{{ u ~ 'ok' }}{{ u|length }}{% for x in u %}x{% endfor %}"), "ok0");
}

TEST(TemplateLimits, PathologicalTemplatesFail) {
  RenderLimits small;
  small.max_loop_iterations = 1000;
  small.max_output_bytes = 1 << 16;
  EXPECT_NE(error_of("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}", {}, small)
                .find("loop iterations"),
            std::string::npos);
  EXPECT_NE(error_of("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").find("recursion"), std::string::npos);
  EXPECT_NE(error_of("{{ 'x' * 100000 }}", {}, small).find("limit"), std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}")
                .find("limit"),
            std::string::npos);
  EXPECT_NE(error_of("{{ range(100000000000) }}").find("limit"), std::string::npos);
  EXPECT_NE(error_of("{{" + std::string(5000, '(') + "1" + std::string(5000, ')') + "}}").find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(error_of("{% set xs = [] %}{{ xs.append(xs) }}").find("cycle"), std::string::npos);
  // Deeply nested values are built and dropped without recursion; printing them fails cleanly.
  EXPECT_EQ(render("{% set x = [] %}{% for i in range(200000) %}{% set x = [x] %}{% endfor %}ok"), "ok");
  EXPECT_NE(error_of("{% set x = [] %}{% for i in range(1000) %}{% set x = [x] %}{% if loop.last %}{{ x }}{% endif %}{% endfor %}").find("deeply"),
            std::string::npos);
  EXPECT_NE(error_of("{{ x" + std::string(3000, '|') + "}}").find("expected a name"), std::string::npos);
  std::string chain = "{{ a";
  for (int i = 0; i < 100000; ++i) chain += ".b";
  EXPECT_NE(error_of(chain + " }}").find("nested too deeply"), std::string::npos);
}

TEST(ChatTemplate, InputsAndFallback) {
  dari::jinja::ChatTemplateInputs in;
  in.messages = Json::parse(R"([{"role":"user","content":"hi"}])");
  in.bos_token = "<s>";
  in.add_generation_prompt = true;
  auto r = dari::jinja::render_chat_template(
      "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"
      "{% if add_generation_prompt %}[assistant]{% endif %}{{ eos_token is defined }}{{ tools is defined }}",
      in);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, "<s>[user]hi[assistant]FalseFalse");
  Json msgs = Json::parse(R"([{"role":"system","content":"S"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}])");
  EXPECT_EQ(dari::jinja::render_plain_fallback(msgs, true), "system: S\nuser: ab\nassistant: ");
  EXPECT_EQ(dari::jinja::render_plain_fallback(msgs, false), "system: S\nuser: ab\n");
}

}  // namespace
