/* Kafka, the kernel half (Go side: internal/kafka). Once user space
 * recognises a connection it has every transfer's head copied
 * (protocol.Protocol.CopyAll): a read can hold several responses, and a
 * response's start says too little to be recognised. This rule covers a
 * client's requests before that: a Produce larger than the transfers
 * copied whole. Its checks are those of the Go side's detection on the
 * first 16 bytes.
 *
 * The rule is a word rule (protocols/all.h): a global function of the
 * PEEK bytes as two little-endian words. Inlined in may_start, its byte
 * tests cost sys_exit 40 more stack bytes, over its budget. */
#ifndef EBPFRED_PROTOCOLS_KAFKA_H
#define EBPFRED_PROTOCOLS_KAFKA_H

_Static_assert(PEEK == 16, "kafka_start takes the PEEK bytes as two words");

/* kafka_start: the PEEK bytes lo, hi can begin a request: a size of 10
 * bytes to 1 GiB, an api key of 0-127, an api version of 0-31, a
 * correlation id that is not negative, and a client id that is null or up
 * to 1 KiB long and begins with a printable character. (Big-endian
 * fields: byte i of the message is bits 8i-8i+7 of the word.) */
__attribute__((noinline)) int kafka_start(__u64 lo, __u64 hi)
{
	__u8 s0 = lo, s1 = lo >> 8, s2 = lo >> 16, s3 = lo >> 24;
	__u8 k0 = lo >> 32, k1 = lo >> 40, v0 = lo >> 48, v1 = lo >> 56;
	__u8 c0 = hi, i0 = hi >> 32, i1 = hi >> 40, ch = hi >> 48;
	if (s0 > 0x40 || (!(s0 | s1 | s2) && s3 < 10))
		return 0;
	if (k0 != 0 || k1 > 127 || v0 != 0 || v1 > 31 || (c0 & 0x80))
		return 0;
	if (i0 == 0xff)
		return i1 == 0xff;
	__u32 id = (__u32)i0 << 8 | i1;
	return id == 0 || (id <= 1024 && ch >= ' ' && ch <= '~');
}

#endif
