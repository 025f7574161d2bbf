#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "proto/crc32c.h"

Test(proto_crc32c, check_value_of_123456789)
{
	cr_assert_eq(proto_crc32c(0, "123456789", 9), 0xE3069283u);
}

/* RFC 3720 (iSCSI) B.4 test patterns. */
Test(proto_crc32c, rfc3720_patterns)
{
	uint8_t buf[32];
	memset(buf, 0, sizeof buf);
	cr_assert_eq(proto_crc32c(0, buf, 32), 0x8A9136AAu);
	memset(buf, 0xFF, sizeof buf);
	cr_assert_eq(proto_crc32c(0, buf, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	cr_assert_eq(proto_crc32c(0, buf, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	cr_assert_eq(proto_crc32c(0, buf, 32), 0x113FDB5Cu);
}

Test(proto_crc32c, continues_across_chunks)
{
	uint8_t buf[257];
	srand(7);
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)rand();
	uint32_t whole = proto_crc32c(0, buf, sizeof buf);
	for (size_t cut = 0; cut <= sizeof buf; cut++)
		cr_assert_eq(proto_crc32c(proto_crc32c(0, buf, cut), buf + cut, sizeof buf - cut), whole);
}
