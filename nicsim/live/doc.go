// Package live runs the simulated SmartNIC on real sockets: between a
// host's services and the wire, where a NIC sits.
//
// A NIC turns the bytes crossing it into the frames a NIC would have seen
// (nicsim/frame: a SYN and SYN-ACK when a connection opens, segments cut
// at the MSS and at HTTP message boundaries, a FIN or RST when a side
// closes, from the connection's real IPv4 addresses and ports), offers
// them to the incremental simulation (nicsim/sim) at their real arrival
// times, runs the filters on the HTTP messages the simulation frames
// (nicsim/engine, e.g. nicsim/wasmengine), and releases each frame to the
// other side no earlier than the model's departure time. Host time spent
// simulating and filtering counts inside that budget; when the host cannot
// keep up, frames leave late, and the lateness of every frame and message
// is measured and reported (underruns: messages later than a tolerance).
//
// Where it attaches:
//
//	ln = nic.Listener(ln)                // ingress: in front of a service's listener
//	cfg.DialContext = nic.DialContext    // egress: a service's outbound connections,
//	                                     // routed by the filters' routing header
//	nic.Relay(ctx, ln, upstream, grace)  // in front of a service nicrt did not write
//
// One NIC is one host's card: ingress, egress and relays share its wire
// port, PCIe link and engines. docs/nicsim.md ("Live") describes what the
// live NIC models, what it does not, and how precise its releases are.
package live
