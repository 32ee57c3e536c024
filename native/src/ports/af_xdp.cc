// AF_XDP port driver: to be written.
#include "../binding.h"

namespace vnf {
void RegisterAfXdp(Napi::Env, Napi::Object) {}
}  // namespace vnf
