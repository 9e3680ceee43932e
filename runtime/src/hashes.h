/* Checksums of the .ecm container: CRC-32 per section, SHA-256 over the whole file. */
#ifndef ERT_HASHES_H
#define ERT_HASHES_H

#include <stddef.h>
#include <stdint.h>

/* zlib-compatible: ert_crc32_update(ert_crc32(a), b) == ert_crc32(a || b). */
uint32_t ert_crc32(const void *data, size_t len);
uint32_t ert_crc32_update(uint32_t crc, const void *data, size_t len);

typedef struct ert_sha256 {
    uint32_t h[8];
    uint64_t total;        /* bytes hashed so far */
    uint8_t block[64];
    size_t fill;           /* bytes waiting in block */
} ert_sha256_ctx;

void ert_sha256_init(ert_sha256_ctx *s);
void ert_sha256_update(ert_sha256_ctx *s, const void *data, size_t len);
void ert_sha256_final(ert_sha256_ctx *s, uint8_t digest[32]);
void ert_sha256(const void *data, size_t len, uint8_t digest[32]);

#endif
