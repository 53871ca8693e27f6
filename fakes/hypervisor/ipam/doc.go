// Package ipam manages the IP addresses of one subnet: it parses and checks
// a CIDR, its gateway and its allocation pools, and hands out addresses from
// the pools (first free, or a specific one) until they run out.
//
// The rules, for IPv4 and IPv6 alike:
//   - the CIDR must have no host bits set ("10.0.0.0/24", not "10.0.0.5/24");
//   - the usable range excludes the network address and, for IPv4 prefixes
//     shorter than /31, the broadcast address;
//   - the gateway defaults to the first usable address and must be usable;
//   - pools default to the whole usable range minus the gateway; given pools
//     must lie in the usable range, must not overlap each other and must not
//     contain the gateway.
//
// A Subnet is not safe for concurrent use; its owner serialises calls.
// Errors wrap the sentinel errors below so callers can map them to their own
// error codes with errors.Is.
package ipam
