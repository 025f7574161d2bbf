#ifndef AN_VERSION_H
#define AN_VERSION_H
extern const char an_version_string[];
#endif
