// Records kept as one JSON object (key -> record) under a meta key of the state store: the
// Jobs' runs, the CronJobs' records. `saved` is the text last read or written, so a map that did
// not change is not written again.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"
#include "state/store.h"

namespace boxd::agent {

template <typename Record, typename FromJson>
Status loadMetaRecords(state::Store& store, const std::string& metaKey, std::string& saved,
                       std::map<std::string, Record>& out, FromJson fromJson) {
  auto got = store.getMeta(metaKey);
  if (!got.ok()) return Status(got.error());
  if (!got->has_value()) return {};
  saved = **got;
  auto j = nlohmann::json::parse(saved, nullptr, false);
  if (!j.is_object()) return {};
  for (const auto& [key, record] : j.items()) out[key] = fromJson(record);
  return {};
}

template <typename Record, typename ToJson>
Status saveMetaRecords(state::Store& store, const std::string& metaKey, std::string& saved,
                       const std::map<std::string, Record>& records, ToJson toJson) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [key, record] : records) j[key] = toJson(record);
  std::string text = j.dump();
  if (text == saved) return {};
  Status st = store.setMeta(metaKey, text);
  if (st.ok()) saved = text;
  return st;
}

}  // namespace boxd::agent
