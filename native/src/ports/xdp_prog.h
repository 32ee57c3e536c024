// The XDP side of the AF_XDP port, without libbpf or clang: an XSKMAP, a five-instruction
// redirect program and a BPF link, all through the raw bpf() system call.
//
//   r2 = ctx->rx_queue_index
//   r1 = &xsks                      (map fd, patched by the verifier)
//   r3 = XDP_PASS                   (what bpf_redirect_map returns when the slot is empty)
//   r0 = bpf_redirect_map(r1, r2, r3)
//   exit
//
// The program is attached with BPF_LINK_CREATE, so it lives as long as the link's file
// descriptor: closing it (or the process dying) detaches the program from the interface.
#pragma once

#include <cstdint>
#include <string>

namespace vnf {

enum class XdpAttach { kAuto, kNative, kGeneric };

// The loaded XDP objects of one port; every fd is -1 when absent. Not copyable.
class XdpProgram {
 public:
  XdpProgram() = default;
  ~XdpProgram() { Close(); }
  XdpProgram(const XdpProgram&) = delete;
  XdpProgram& operator=(const XdpProgram&) = delete;

  // Creates an XSKMAP with `entries` slots (queue ids 0 .. entries-1). Returns 0 or errno,
  // with a message in *why.
  int CreateMap(uint32_t entries, std::string* why);
  // Puts an AF_XDP socket in the slot of its queue id.
  int SetSocket(uint32_t queue_id, int xsk_fd, std::string* why);
  // Loads the redirect program. On a verifier rejection *why carries the verifier's log.
  int Load(std::string* why);
  // Attaches to ifindex in the given mode (kAuto: native, then generic). *used tells which
  // mode worked; *note why native was not used, when kAuto fell back.
  int Attach(uint32_t ifindex, XdpAttach mode, XdpAttach* used, std::string* note, std::string* why);
  // Detaches (closes the link) and frees the program and the map.
  void Close();

  int link_fd() const { return link_fd_; }

 private:
  int map_fd_ = -1;
  int prog_fd_ = -1;
  int link_fd_ = -1;
};

}  // namespace vnf
