package core

// murmur64A is MurmurHash2-64A (Austin Appleby, public domain) over the bytes
// of data, reading 8-byte blocks little-endian as the reference
// implementation does on x86. Dynatrace uses it with seed fw4ChecksumSeed for
// the checksum of the fw4 extension block; the sampler uses it to turn a trace
// id into a well-mixed random number.
func murmur64A[T ~string | ~[]byte](data T, seed uint64) uint64 {
	const (
		m = 0xc6a4a7935bd1e995
		r = 47
	)
	n := len(data)
	h := seed ^ uint64(n)*m

	i := 0
	for ; n-i >= 8; i += 8 {
		k := uint64(data[i]) | uint64(data[i+1])<<8 | uint64(data[i+2])<<16 | uint64(data[i+3])<<24 |
			uint64(data[i+4])<<32 | uint64(data[i+5])<<40 | uint64(data[i+6])<<48 | uint64(data[i+7])<<56
		k *= m
		k ^= k >> r
		k *= m
		h ^= k
		h *= m
	}

	switch n - i {
	case 7:
		h ^= uint64(data[i+6]) << 48
		fallthrough
	case 6:
		h ^= uint64(data[i+5]) << 40
		fallthrough
	case 5:
		h ^= uint64(data[i+4]) << 32
		fallthrough
	case 4:
		h ^= uint64(data[i+3]) << 24
		fallthrough
	case 3:
		h ^= uint64(data[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint64(data[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint64(data[i])
		h *= m
	}

	h ^= h >> r
	h *= m
	h ^= h >> r
	return h
}

// traceIDHash returns a well-mixed 64-bit number derived from id. Every
// instance computes the same number for the same trace, so decisions based on
// it are consistent along a trace.
func traceIDHash(id [16]byte) uint64 {
	return murmur64A(id[:], fw4ChecksumSeed)
}
