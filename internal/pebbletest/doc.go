// Package pebbletest runs Let's Encrypt's pebble, a small ACME server,
// on loopback for tests, for tests only. Its binary is built once (go
// install from the module proxy, outside this module) into
// ~/.cache/bluegreen/pebble-<Version>/ and reused; pebble's code is not
// part of this module.
//
// Each Start runs a new pebble with its own HTTPS certificate (CAFile
// trusts it), its own issuing root (Roots), and a DNS server that answers
// 127.0.0.1 for every name, so that pebble validates the challenges for
// real against the ports the test gives it.
package pebbletest
