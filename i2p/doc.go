// Package i2p implements the I2P common structures imh signs, publishes and
// parses: Mapping, Certificate and Key Certificate, Destination, private key
// files as i2pd and Java I2P write them, Lease, Lease2 and LeaseSet2 (with
// the offline-signature block), I2P base64 and .b32.i2p addresses (I2P-WIRE
// sections 2, 3, 6, 9 and 10). It imports only the standard library and
// internal/wire.
//
// It does no I/O and never reads the clock: decoding and signature checks are
// pure, and callers pass the time to TimeStatus. Decoders are total: any byte
// string yields a value or an error, never a panic; whatever they accept
// encodes back to the same bytes (the fuzz targets check both).
//
// Types that hold private keys (PrivateKeys, LeaseSetKey) print and log only
// the b32 address or a hash of the public key, whatever the fmt verb, and
// keep the key bytes where reflection cannot reach them.
package i2p
