/* CRC-32 and SHA-256 against published test vectors, and incremental hashing across block
 * boundaries against one-shot hashing. */
#include <stdlib.h>

#include "../src/hashes.h"
#include "check.h"

static void hex(const uint8_t d[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void sha_vector(const void *msg, size_t len, const char *want)
{
    uint8_t d[32];
    char h[65];
    ert_sha256(msg, len, d);
    hex(d, h);
    CHECK(strcmp(h, want) == 0);
    if (strcmp(h, want))
        fprintf(stderr, "  sha256 of %zu bytes: %s, want %s\n", len, h, want);
}

int main(void)
{
    /* CRC-32 check value (the "123456789" catalogue entry) and zlib.crc32 values */
    CHECK_EQ_I(ert_crc32("123456789", 9), 0xCBF43926u);
    CHECK_EQ_I(ert_crc32("", 0), 0);
    CHECK_EQ_I(ert_crc32("The quick brown fox jumps over the lazy dog", 43), 0x414FA339u);
    CHECK_EQ_I(ert_crc32_update(ert_crc32("12345", 5), "6789", 4), 0xCBF43926u);

    /* FIPS 180-2 / NIST examples */
    sha_vector("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha_vector("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha_vector("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
               "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    size_t n = 1000000;
    char *a = malloc(n);
    memset(a, 'a', n);
    sha_vector(a, n, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    /* incremental in odd pieces == one shot, for every length around the padding edges */
    for (size_t len = 0; len < 200; len++) {
        uint8_t one[32], inc[32];
        ert_sha256(a, len, one);
        ert_sha256_ctx s;
        ert_sha256_init(&s);
        for (size_t off = 0; off < len;) {
            size_t piece = (off % 7) + 1;
            if (piece > len - off)
                piece = len - off;
            ert_sha256_update(&s, a + off, piece);
            off += piece;
        }
        ert_sha256_final(&s, inc);
        CHECK(memcmp(one, inc, 32) == 0);
    }
    free(a);
    return check_report("test_hashes");
}
