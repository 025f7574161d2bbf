#ifndef CF_VERSION_H
#define CF_VERSION_H
#include <stdint.h>
extern const char cf_version_string[];
extern const uint16_t cf_version_fw;
#endif
