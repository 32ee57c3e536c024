// AF_PACKET port driver (TPACKET_V3): to be written.
#include "../binding.h"

namespace vnf {
void RegisterAfPacket(Napi::Env, Napi::Object) {}
}  // namespace vnf
