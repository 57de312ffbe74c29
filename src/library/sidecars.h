// Model metadata beside the weights: the safetensors __metadata__ (kohya ss_* training
// fields, SAI modelspec.*) and the sidecar files other tools write next to a model:
//   <stem>.metadata.json   ComfyUI-Lora-Manager (model_name, base_model, tags, civitai{...})
//   <stem>.civitai.info    A1111 Civitai Helper: the CivitAI model-version JSON
//   <stem>.json            A1111 user metadata (description, sd version, activation text,
//                          preferred weight, negative text, notes)
//   <stem>[.preview].{png,jpg,jpeg,webp,gif}   preview image
// Each reader fills the ModelRecord fields it knows (tags, trigger words, base model,
// popularity, preferred parameters) and never fails: a malformed sidecar is skipped with a
// line in the record's evidence.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "library/model_record.h"

namespace easel::library {

// The files of one folder: name -> modification time (ns). The scanner lists each folder
// once and looks sidecars up here, so finding them costs no extra system calls.
using DirListing = std::map<std::string, int64_t>;

// A fingerprint of the sidecars present for `model_file_name` ("name@mtime;..."): when it
// changes the file's metadata is read again even if the weights did not change.
std::string SidecarSignature(const std::string& model_file_name, const DirListing& listing);

// Reads every sidecar of `model_file_name` in `dir` and the preview image into `record`.
void ApplySidecars(const std::string& dir, const std::string& model_file_name,
                   const DirListing& listing, ModelRecord* record);

// Reads kohya / modelspec fields of a safetensors header's __metadata__ into `record`: tags
// from ss_tag_frequency (most frequent first), trigger words from modelspec.trigger_phrase,
// base model from ss_base_model_version / modelspec.architecture, title from
// modelspec.title / ss_output_name. Keeps the metadata (values over 1000 characters cut)
// in record->metadata.
void ApplySafetensorsMetadata(const std::map<std::string, std::string>& metadata,
                              ModelRecord* record);

// Parsers for one sidecar's text, exposed for tests. Each returns false (and changes
// nothing) for malformed JSON.
bool ApplyLoraManagerJson(const std::string& text, ModelRecord* record);
bool ApplyCivitaiInfo(const std::string& text, ModelRecord* record);
bool ApplyA1111Json(const std::string& text, ModelRecord* record);

// Lowercase, trimmed, de-duplicated tag list (keeps the first occurrence's position).
void AddTags(const std::vector<std::string>& tags, std::vector<std::string>* to);

}  // namespace easel::library
