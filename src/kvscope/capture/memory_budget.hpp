// Memory that a user-controlled size would make kvscope allocate (a prompt's length, tokens to
// generate, attention captured), checked against what the machine has BEFORE allocating, so
// that an absurd request is one line of bad input instead of a process the kernel kills.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kvscope/capture/loaded_model.hpp"

namespace kvscope::capture {

// Bytes kvscope may use: $KVSCOPE_MEMORY_LIMIT if set (bytes, or with a K, M, G or T suffix,
// powers of 1024), else the memory the system says is available (MemAvailable in
// /proc/meminfo), else the physical memory. `source` (optional) says which.
int64_t memory_budget(std::string* source = nullptr);

// Bytes of physical memory.
int64_t physical_memory();

// Weights are memory-mapped, not allocated, so they are held against the machine's physical
// memory rather than the budget: BadInput "<what>: its weights take 40.0 GB as stored, more
// than this machine's 24.0 GB of memory: ..." when they could not all stay resident.
void require_weights_fit(double weight_bytes, std::string_view what);

// One part of a request: what it is and its size in bytes.
struct MemoryPart {
  std::string name;  // "attention patterns"
  double bytes = 0;  // double: products of user sizes can exceed int64
};

// BadInput "<what> needs 47.0 GB (keys and values 0.1 GB, attention patterns 46.9 GB), more
// than the memory budget of 12.0 GB (available memory): <remedy>" if the parts add up to more
// than the budget.
void require_memory(const std::vector<MemoryPart>& parts, std::string_view what,
                    std::string_view remedy);

// Text longer than this many bytes cannot fit the model's context: each token stands for at
// most the longest token's bytes (with a margin for normalisers that shorten text). Checked
// before tokenizing, which costs tens of bytes of memory per byte of text.
int64_t max_prompt_bytes(const LoadedModel& m);

// BadInput "the prompt has N bytes, more than the model's context length of C tokens can hold
// (at most M bytes with this tokenizer)" if prompt_bytes > max_prompt_bytes(m).
void check_prompt_bytes(const LoadedModel& m, size_t prompt_bytes);

}  // namespace kvscope::capture
