// Precompiled header for every target that uses libtorch: parsed once per build.
#pragma once
#include <torch/torch.h>
