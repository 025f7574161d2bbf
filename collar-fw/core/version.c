/* Firmware identity, reported in HELLO. Bumped with every release that changes behaviour on the wire. */
#include "cf/version.h"

const char cf_version_string[] = "scentrack-collar 0.1.0";
const uint16_t cf_version_fw = 0x0100; /* major.minor in the high and low byte */
