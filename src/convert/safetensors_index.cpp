// Sharded checkpoints: model.safetensors.index.json and directory scanning.
#include <dirent.h>

#include <algorithm>
#include <memory>
#include <set>

#include "convert/json_util.h"
#include "dari/convert/safetensors.h"
#include "dari/core/strings.h"

namespace dari {
namespace {

bool is_plain_file_name(const std::string& s) {
  if (s.empty() || s == "." || s == "..") return false;
  if (s.find('/') != std::string::npos || s.find('\\') != std::string::npos) return false;
  if (s.find('\0') != std::string::npos) return false;
  return s.find("..") == std::string::npos;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Result<std::vector<std::string>> list_safetensors(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), &::closedir);
  if (!d) return make_error(dir + ": cannot open directory");
  std::vector<std::string> out;
  while (dirent* e = ::readdir(d.get())) {
    std::string n = e->d_name;
    if (ends_with(n, ".safetensors") && file_exists(dir + "/" + n)) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<std::map<std::string, std::string>> parse_safetensors_index(std::string_view json,
                                                                   const std::string& name) {
  DARI_ASSIGN_OR_RETURN(nlohmann::json j, parse_json_limited(json, name));
  if (!j.is_object()) return make_error(name + ": not a JSON object");
  auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object()) return make_error(name + ": missing weight_map object");
  std::map<std::string, std::string> out;
  for (const auto& [tensor, file] : wm->items()) {
    if (!file.is_string()) {
      return make_error(name + ": weight_map entry '" + printable(tensor) + "' is not a string");
    }
    const auto& f = file.get_ref<const std::string&>();
    if (!is_plain_file_name(f)) {
      return make_error(name + ": weight_map entry '" + printable(tensor) + "' names file '" +
                        printable(f) + "', which is not a plain file name in the checkpoint folder");
    }
    out[tensor] = f;
  }
  if (out.empty()) return make_error(name + ": weight_map is empty");
  return out;
}

Result<SafetensorsCheckpoint> SafetensorsCheckpoint::open_dir(const std::string& dir) {
  SafetensorsCheckpoint ck;
  std::string index_path = dir + "/model.safetensors.index.json";
  std::vector<std::string> files;
  std::map<std::string, std::string> weight_map;
  bool have_index = file_exists(index_path);
  if (have_index) {
    DARI_ASSIGN_OR_RETURN(std::string text, read_whole_file(index_path, 256ull << 20));
    DARI_ASSIGN_OR_RETURN(weight_map, parse_safetensors_index(text, index_path));
    std::set<std::string> uniq;
    for (const auto& [t, f] : weight_map) uniq.insert(f);
    files.assign(uniq.begin(), uniq.end());
  } else if (file_exists(dir + "/model.safetensors")) {
    files.push_back("model.safetensors");
  } else {
    DARI_ASSIGN_OR_RETURN(files, list_safetensors(dir));
    if (files.empty()) return make_error(dir + ": no *.safetensors files found");
  }
  for (const auto& f : files) {
    DARI_ASSIGN_OR_RETURN(SafetensorsFile sf, SafetensorsFile::open(dir + "/" + f));
    ck.files_.push_back(std::make_unique<SafetensorsFile>(std::move(sf)));
    size_t idx = ck.files_.size() - 1;
    for (const auto& t : ck.files_.back()->tensors()) {
      if (ck.by_name_.count(t.name) != 0) {
        return make_error(dir + ": tensor '" + printable(t.name) + "' appears in both " +
                          ck.files_[ck.by_name_[t.name].first]->path() + " and " +
                          ck.files_[idx]->path());
      }
      ck.by_name_[t.name] = {idx, &t};
    }
  }
  for (const auto& [t, f] : weight_map) {
    auto it = ck.by_name_.find(t);
    if (it == ck.by_name_.end()) {
      return make_error(index_path + ": tensor '" + printable(t) + "' is not in " + dir + "/" + f);
    }
    if (ck.files_[it->second.first]->path() != dir + "/" + f) {
      return make_error(index_path + ": tensor '" + printable(t) + "' is listed in " + f +
                        " but stored in " + ck.files_[it->second.first]->path());
    }
  }
  return ck;
}

std::vector<const SafetensorsTensor*> SafetensorsCheckpoint::tensors() const {
  std::vector<const SafetensorsTensor*> out;
  out.reserve(by_name_.size());
  for (const auto& [n, v] : by_name_) out.push_back(v.second);
  return out;
}

const SafetensorsTensor* SafetensorsCheckpoint::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second.second;
}

std::string SafetensorsCheckpoint::file_of(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? std::string() : files_[it->second.first]->path();
}

}  // namespace dari
