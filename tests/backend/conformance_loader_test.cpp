// Failure paths of the backend plugin loader (src/backend/registry.cpp, plugin_v2.cpp): each
// broken library (conformance_bad_plugin.cpp) is refused with one message that names the file
// and what is wrong, and nothing broken gets registered.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "dari/backend/backend.h"

namespace dari {
namespace {

bool contains(const std::string& s, const std::string& what) {
  return s.find(what) != std::string::npos;
}

bool registered(const std::string& name) {
  const std::vector<std::string> names = backend_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string temp_dir(const std::string& name) {
  const std::string d = std::string(DARI_BINARY_DIR) + "/tests/backend/" + name;
  std::filesystem::create_directories(d);
  return d;
}

TEST(PluginLoader, NotASharedObject) {
  const std::string path = temp_dir("loader_junk") + "/libdari-backend-junk.so";
  std::ofstream(path) << "this is not an ELF file\n";
  auto r = register_plugin_library(path);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.message(), path)) << r.message();
  EXPECT_TRUE(contains(r.message(), "dlopen failed")) << r.message();
  EXPECT_FALSE(registered("junk"));
}

TEST(PluginLoader, MissingFile) {
  auto r = register_plugin_library("/nonexistent/libdari-backend-gone.so");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.message(), "/nonexistent/libdari-backend-gone.so")) << r.message();
}

TEST(PluginLoader, MissingEntrySymbol) {
  auto r = register_plugin_library(DARI_BAD_PLUGIN_NO_ENTRY);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.message(), DARI_BAD_PLUGIN_NO_ENTRY)) << r.message();
  EXPECT_TRUE(contains(r.message(), DARI_PLUGIN_ENTRY_NAME_V2)) << r.message();
  EXPECT_TRUE(contains(r.message(), DARI_PLUGIN_ENTRY_NAME)) << r.message();
}

TEST(PluginLoader, NewerAbiVersion) {
  auto r = register_plugin_library(DARI_BAD_PLUGIN_ABI3);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.message(), DARI_BAD_PLUGIN_ABI3)) << r.message();
  EXPECT_TRUE(contains(r.message(), "ABI version 3")) << r.message();
  EXPECT_TRUE(contains(r.message(), "newer")) << r.message();
  EXPECT_FALSE(registered("bad-abi3"));
}

TEST(PluginLoader, TooSmallTable) {
  auto r = register_plugin_library(DARI_BAD_PLUGIN_SIZE);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.message(), DARI_BAD_PLUGIN_SIZE)) << r.message();
  EXPECT_TRUE(contains(r.message(), "24 bytes, expected at least")) << r.message();
  EXPECT_FALSE(registered("bad-size"));
}

TEST(PluginLoader, NullRequiredFunction) {
  auto r = register_plugin_library(DARI_BAD_PLUGIN_NULL_FN);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.message(), DARI_BAD_PLUGIN_NULL_FN)) << r.message();
  EXPECT_TRUE(contains(r.message(), "null name or required function")) << r.message();
  EXPECT_FALSE(registered("bad-null-fn"));
}

// A valid table registers; opening a device then fails with the plugin's own message.
TEST(PluginLoader, CreateFailsWithMessage) {
  auto r = register_plugin_library(DARI_BAD_PLUGIN_CREATE);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(*r, "bad-create");
  auto again = register_plugin_library(DARI_BAD_PLUGIN_CREATE);  // same file: same name
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, "bad-create");
  bool listed = false;
  for (const DeviceInfo& d : list_devices())
    listed |= d.backend == "bad-create" && d.name == "bad0";
  EXPECT_TRUE(listed);
  auto b = create_backend("bad-create");
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(contains(b.message(), "simulated device initialisation failure")) << b.message();
  EXPECT_TRUE(contains(b.message(), "device lost")) << b.message();
  auto b1 = create_backend("bad-create:1");
  ASSERT_FALSE(b1.ok());
  EXPECT_TRUE(contains(b1.message(), "no device 1")) << b1.message();
}

TEST(PluginLoader, BadSpecs) {
  for (const char* spec : {"cpu:x", "cpu:", "cpu:-1"}) {
    auto b = create_backend(spec);
    ASSERT_FALSE(b.ok()) << spec;
    EXPECT_TRUE(contains(b.message(), "must be a number")) << b.message();
  }
  auto nope = create_backend("nope");
  ASSERT_FALSE(nope.ok());
  EXPECT_TRUE(contains(nope.message(), "unknown backend 'nope'")) << nope.message();
  EXPECT_TRUE(contains(nope.message(), "libdari-backend-<name>.so")) << nope.message();
  auto cpu1 = create_backend("cpu:1");
  ASSERT_FALSE(cpu1.ok());
  EXPECT_TRUE(contains(cpu1.message(), "no device 1")) << cpu1.message();
}

// discover_plugins() registers what loads and reports the rest without stopping.
TEST(PluginLoader, DiscoverReportsBrokenLibraries) {
  const std::string dir = temp_dir("loader_discover");
  namespace fs = std::filesystem;
  const fs::copy_options over = fs::copy_options::overwrite_existing;
  fs::copy_file(DARI_BAD_PLUGIN_ABI3, dir + "/libdari-backend-newer.so", over);
  fs::copy_file(DARI_BAD_PLUGIN_CREATE, dir + "/libdari-backend-failing.so", over);
  std::ofstream(dir + "/libdari-backend-text.so") << "not a library";
  add_plugin_search_dir(dir);
  const std::vector<std::string> errors = discover_plugins();
  bool newer = false, text = false;
  for (const std::string& e : errors) {
    newer |= contains(e, "libdari-backend-newer.so") && contains(e, "newer");
    text |= contains(e, "libdari-backend-text.so");
  }
  EXPECT_TRUE(newer);
  EXPECT_TRUE(text);
  EXPECT_TRUE(registered("bad-create"));
  // A name looked up on the search path reports why its library was refused.
  auto b = create_backend("newer");
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(contains(b.message(), "newer")) << b.message();
}

}  // namespace
}  // namespace dari
