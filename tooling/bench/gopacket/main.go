// gopacket-parse: the Go peer of native/bench/parse_bench.cc. It parses every packet of a pcap with
// gopacket's zero-allocation DecodingLayerParser and extracts the same outer and, for VXLAN and
// GTP-U tunnels, inner 5-tuples (IP version, L4 protocol, addresses, ports), recording the header
// offsets per packet in arrays (structure of arrays) as our parser does.
//
// Build (offline, Debian packages golang-go and golang-github-google-gopacket-dev):
//
//	cd tooling/bench/gopacket && GO111MODULE=off GOPATH=/usr/share/gocode go build -o .build/gopacket-parse .
//
// Usage: .build/gopacket-parse [-runs 5] [-min 1] [-mode both|default|sparse] mix.pcap
//
// Output (stdout, JSON lines), each the MEDIAN of -runs repetitions of at least -min seconds:
//
//	{"name":"parse-mix-gopacket","unit":"Mpps","value":...}         default (map) layer container
//	{"name":"parse-mix-gopacket-sparse","unit":"Mpps","value":...}  gopacket.DecodingLayerSparse
//
// stderr: per-repetition figures, allocations per packet during the timed runs (expected 0), and
// tuple-digest, an FNV-1a 64 over each packet's outer and inner records (38 bytes each: version,
// protocol, source[16], destination[16], source port, destination port, big-endian; IPv4 in the
// first 4 address bytes; all zero when absent). parse_bench prints the same digest, so equal
// digests mean both programs extracted the same tuples.
//
// Layers: Ethernet, Dot1Q (also QinQ), IPv4, IPv6 (gopacket decodes hop-by-hop inside IPv6),
// IPv6ExtensionSkipper (routing, fragment, destination options), TCP, UDP, ICMPv4, ICMPv6, SCTP;
// a second parser starting at VXLAN (inner Ethernet, Dot1Q, IP, L4) and a third at GTPv1U
// (gopacket decodes its optional fields and extension headers; inner IP, L4). gopacket has no
// DecodingLayer for IPv6 AH. Tunnels are recognised by UDP destination port (4789, 2152), as in
// the C++ parser; the outer parser stops there (IgnoreUnsupported) and the tunnel's parser takes
// the UDP payload, as gopacket's layer instances cannot be shared between the outer and inner
// levels.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

const (
	stride   = 2048
	headroom = 256
)

var (
	be = binary.BigEndian
	le = binary.LittleEndian
)

// view is a 5-tuple pointing into the packet (no copies).
type view struct {
	ver, proto   uint8
	ports        bool
	src, dst     []byte
	sport, dport uint16
}

type parser struct {
	eth   layers.Ethernet
	d1q   layers.Dot1Q
	ip4   layers.IPv4
	ip6   layers.IPv6
	ext   layers.IPv6ExtensionSkipper
	tcp   layers.TCP
	udp   layers.UDP
	icmp4 layers.ICMPv4
	icmp6 layers.ICMPv6
	sctp  layers.SCTP

	vx     layers.VXLAN
	gtp    layers.GTPv1U
	ieth   layers.Ethernet
	id1q   layers.Dot1Q
	iip4   layers.IPv4
	iip6   layers.IPv6
	iext   layers.IPv6ExtensionSkipper
	itcp   layers.TCP
	iudp   layers.UDP
	iicmp4 layers.ICMPv4
	iicmp6 layers.ICMPv6

	outer, vxp, gtpp *gopacket.DecodingLayerParser
	dec, idec        []gopacket.LayerType

	out, in               view
	l3, l4, il2, il3, il4 uint16
}

func mk(first gopacket.LayerType, sparse bool, ds ...gopacket.DecodingLayer) *gopacket.DecodingLayerParser {
	p := gopacket.NewDecodingLayerParser(first, ds...)
	if sparse {
		var c gopacket.DecodingLayerContainer = gopacket.DecodingLayerSparse(nil)
		for _, d := range ds {
			c = c.Put(d)
		}
		p.SetDecodingLayerContainer(c)
	}
	// Stop quietly at a layer without a decoder (payloads, VXLAN/GTP-U in the outer parser).
	p.IgnoreUnsupported = true
	return p
}

func newParser(sparse bool) *parser {
	p := &parser{}
	p.outer = mk(layers.LayerTypeEthernet, sparse,
		&p.eth, &p.d1q, &p.ip4, &p.ip6, &p.ext, &p.tcp, &p.udp, &p.icmp4, &p.icmp6, &p.sctp)
	p.vxp = mk(layers.LayerTypeVXLAN, sparse,
		&p.vx, &p.ieth, &p.id1q, &p.iip4, &p.iip6, &p.iext, &p.itcp, &p.iudp, &p.iicmp4, &p.iicmp6)
	p.gtpp = mk(layers.LayerTypeGTPv1U, sparse,
		&p.gtp, &p.iip4, &p.iip6, &p.iext, &p.itcp, &p.iudp, &p.iicmp4, &p.iicmp6)
	p.dec = make([]gopacket.LayerType, 0, 16)
	p.idec = make([]gopacket.LayerType, 0, 16)
	return p
}

// offset of sub inside pkt (sub is a sub-slice of pkt)
func off(pkt, sub []byte) uint16 { return uint16(cap(pkt) - cap(sub)) }

func ip6proto(ip *layers.IPv6) uint8 {
	if ip.HopByHop != nil {
		return uint8(ip.HopByHop.NextHeader)
	}
	return uint8(ip.NextHeader)
}

func (p *parser) inner(pkt []byte, dp *gopacket.DecodingLayerParser, data []byte) {
	_ = dp.DecodeLayers(data, &p.idec) // partial decodes still fill what they reached
	v := &p.in
	for _, t := range p.idec {
		switch t {
		case layers.LayerTypeEthernet:
			p.il2 = off(pkt, p.ieth.Contents)
		case layers.LayerTypeIPv4:
			p.il3 = off(pkt, p.iip4.Contents)
			v.ver, v.proto, v.src, v.dst = 4, uint8(p.iip4.Protocol), p.iip4.SrcIP, p.iip4.DstIP
		case layers.LayerTypeIPv6:
			p.il3 = off(pkt, p.iip6.Contents)
			v.ver, v.proto, v.src, v.dst = 6, ip6proto(&p.iip6), p.iip6.SrcIP, p.iip6.DstIP
		case layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Fragment, layers.LayerTypeIPv6Destination:
			v.proto = uint8(p.iext.NextHeader)
		case layers.LayerTypeTCP:
			p.il4 = off(pkt, p.itcp.Contents)
			v.ports, v.sport, v.dport = true, uint16(p.itcp.SrcPort), uint16(p.itcp.DstPort)
			return
		case layers.LayerTypeUDP:
			p.il4 = off(pkt, p.iudp.Contents)
			v.ports, v.sport, v.dport = true, uint16(p.iudp.SrcPort), uint16(p.iudp.DstPort)
			return
		case layers.LayerTypeICMPv4:
			p.il4 = off(pkt, p.iicmp4.Contents)
			return
		case layers.LayerTypeICMPv6:
			p.il4 = off(pkt, p.iicmp6.Contents)
			return
		}
	}
}

// parse fills p.out, p.in and the offsets for one packet.
func (p *parser) parse(pkt []byte) {
	p.out, p.in = view{}, view{}
	p.l3, p.l4, p.il2, p.il3, p.il4 = 0, 0, 0, 0, 0
	_ = p.outer.DecodeLayers(pkt, &p.dec)
	v := &p.out
	for _, t := range p.dec {
		switch t {
		case layers.LayerTypeIPv4:
			p.l3 = off(pkt, p.ip4.Contents)
			v.ver, v.proto, v.src, v.dst = 4, uint8(p.ip4.Protocol), p.ip4.SrcIP, p.ip4.DstIP
		case layers.LayerTypeIPv6:
			p.l3 = off(pkt, p.ip6.Contents)
			v.ver, v.proto, v.src, v.dst = 6, ip6proto(&p.ip6), p.ip6.SrcIP, p.ip6.DstIP
		case layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Fragment, layers.LayerTypeIPv6Destination:
			v.proto = uint8(p.ext.NextHeader)
		case layers.LayerTypeTCP:
			p.l4 = off(pkt, p.tcp.Contents)
			v.ports, v.sport, v.dport = true, uint16(p.tcp.SrcPort), uint16(p.tcp.DstPort)
		case layers.LayerTypeSCTP:
			p.l4 = off(pkt, p.sctp.Contents)
			v.ports, v.sport, v.dport = true, uint16(p.sctp.SrcPort), uint16(p.sctp.DstPort)
		case layers.LayerTypeICMPv4:
			p.l4 = off(pkt, p.icmp4.Contents)
		case layers.LayerTypeICMPv6:
			p.l4 = off(pkt, p.icmp6.Contents)
		case layers.LayerTypeUDP:
			p.l4 = off(pkt, p.udp.Contents)
			v.ports, v.sport, v.dport = true, uint16(p.udp.SrcPort), uint16(p.udp.DstPort)
			switch p.udp.DstPort {
			case 4789:
				p.inner(pkt, p.vxp, p.udp.Payload)
			case 2152:
				p.inner(pkt, p.gtpp, p.udp.Payload)
			}
			return
		}
	}
}

func fold(h, v uint64) uint64 {
	h ^= v
	h *= 0x9e3779b97f4a7c15
	return h ^ (h >> 29)
}

// foldView folds a tuple into the running checksum (the timed loop's read step).
func foldView(h uint64, v *view) uint64 {
	switch v.ver {
	case 4:
		h = fold(h, uint64(le.Uint32(v.src))<<32|uint64(le.Uint32(v.dst))^uint64(v.proto))
	case 6:
		h = fold(h, le.Uint64(v.src[0:])^uint64(v.proto))
		h = fold(h, le.Uint64(v.src[8:]))
		h = fold(h, le.Uint64(v.dst[0:]))
		h = fold(h, le.Uint64(v.dst[8:]))
	default:
		return h
	}
	if v.ports {
		h = fold(h, uint64(v.sport)<<16|uint64(v.dport))
	}
	return h
}

// digestView adds a tuple's 38-byte record to an FNV-1a 64 (same definition as parse_bench).
func digestView(h uint64, v *view) uint64 {
	var b [38]byte
	if v.ver != 0 {
		b[0], b[1] = v.ver, v.proto
		copy(b[2:18], v.src)
		copy(b[18:34], v.dst)
		if v.ports {
			be.PutUint16(b[34:], v.sport)
			be.PutUint16(b[36:], v.dport)
		}
	}
	for _, c := range b {
		h = (h ^ uint64(c)) * 0x100000001b3
	}
	return h
}

// loadPcap reads a little-endian microsecond pcap into one buffer at a 2048-byte stride with a
// 256-byte headroom (packet i at i*2048+256), as our mempool lays packets out.
func loadPcap(fn string) (buf []byte, lens []uint16, err error) {
	f, err := os.ReadFile(fn)
	if err != nil {
		return nil, nil, err
	}
	if len(f) < 24 || le.Uint32(f) != 0xa1b2c3d4 {
		return nil, nil, fmt.Errorf("%s: not a little-endian microsecond pcap", fn)
	}
	var pk [][]byte
	for o := 24; o+16 <= len(f); {
		cl := int(le.Uint32(f[o+8:]))
		o += 16
		if o+cl > len(f) {
			break
		}
		if cl <= stride-headroom {
			pk = append(pk, f[o:o+cl])
		}
		o += cl
	}
	buf = make([]byte, len(pk)*stride)
	for i, p := range pk {
		copy(buf[i*stride+headroom:], p)
		lens = append(lens, uint16(len(p)))
	}
	return buf, lens, nil
}

type soa struct{ l3, l4, il2, il3, il4 []uint16 }

func bench(name string, sparse bool, pkts [][]byte, runs int, minsec float64) {
	n := len(pkts)
	p := newParser(sparse)
	m := soa{make([]uint16, n), make([]uint16, n), make([]uint16, n), make([]uint16, n), make([]uint16, n)}
	var sum uint64
	pass := func() {
		for i, d := range pkts {
			p.parse(d)
			m.l3[i], m.l4[i], m.il2[i], m.il3[i], m.il4[i] = p.l3, p.l4, p.il2, p.il3, p.il4
			sum = foldView(foldView(sum, &p.out), &p.in)
		}
	}

	// One pass for the digest, then warm-up.
	dg := uint64(0xcbf29ce484222325)
	for _, d := range pkts {
		p.parse(d)
		dg = digestView(digestView(dg, &p.out), &p.in)
	}
	for t0 := time.Now(); time.Since(t0) < 300*time.Millisecond; {
		pass()
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	var res []float64
	total := 0
	for run := 0; run < runs; run++ {
		passes := 0
		t0 := time.Now()
		var el float64
		for {
			pass()
			passes++
			if el = time.Since(t0).Seconds(); el >= minsec {
				break
			}
		}
		total += passes * n
		res = append(res, float64(passes*n)/el/1e6)
		fmt.Fprintf(os.Stderr, "  %s run %d: %d passes, %.3f s, %.2f Mpps\n", name, run, passes, el, res[len(res)-1])
	}
	runtime.ReadMemStats(&ms1)
	sort.Float64s(res)
	med := res[len(res)/2]
	fmt.Fprintf(os.Stderr, "%s: %d packets, tuple-digest=%016x checksum=%016x allocs/packet=%.4f\n",
		name, n, dg, sum, float64(ms1.Mallocs-ms0.Mallocs)/float64(total))
	fmt.Printf("{\"name\":%q,\"unit\":\"Mpps\",\"value\":%.4g}\n", name, med)
}

func main() {
	runs := flag.Int("runs", 5, "timed repetitions (the median is printed)")
	minsec := flag.Float64("min", 1.0, "minimum seconds per repetition")
	mode := flag.String("mode", "both", "both | default | sparse")
	flag.Parse()
	fn := "mix.pcap"
	if flag.NArg() > 0 {
		fn = flag.Arg(0)
	}
	buf, lens, err := loadPcap(fn)
	if err != nil || len(lens) == 0 {
		fmt.Fprintln(os.Stderr, "cannot load packets:", err)
		os.Exit(1)
	}
	pkts := make([][]byte, len(lens))
	for i, l := range lens {
		o := i*stride + headroom
		pkts[i] = buf[o : o+int(l) : o+int(l)]
	}
	if *mode == "both" || *mode == "default" {
		bench("parse-mix-gopacket", false, pkts, *runs, *minsec)
	}
	if *mode == "both" || *mode == "sparse" {
		bench("parse-mix-gopacket-sparse", true, pkts, *runs, *minsec)
	}
}
