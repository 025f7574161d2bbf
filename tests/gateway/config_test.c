/*
 * tests/gateway/config_test.c — the INI config: the shipped sample parses to the documented defaults, and
 * typos, bad values and incomplete links are errors.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>

#include "gw/config.h"
#include "gw/keys.h"
#include "gw_testutil.h"

TestSuite(gw_config, .init = tu_mkdir, .fini = tu_rmdir);

static const char *write_file(const char *name, const char *text)
{
	const char *p = tu_path(name);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

Test(gw_config, the_sample_file_is_the_defaults_plus_one_link)
{
	struct gw_config c, d;
	gw_config_defaults(&c);
	gw_config_defaults(&d);
	cr_assert_eq(gw_config_load(&c, SCENTRACK_SOURCE_DIR "/gateway/scentrack-gateway.ini.sample"), 0);
	cr_assert_eq(c.gw_id, d.gw_id);
	cr_assert_str_eq(c.spool, d.spool);
	cr_assert_str_eq(c.keys, d.keys);
	cr_assert_str_eq(c.status_socket, d.status_socket);
	/* the one deliberate difference: commands are off unless configured, the sample configures them */
	cr_assert_str_eq(d.control_socket, "");
	cr_assert_str_eq(c.control_socket, "/run/scentrack-gateway/control.sock");
	cr_assert_eq(c.spool_max_bytes, d.spool_max_bytes);
	cr_assert_eq(memcmp(&c.pipe, &d.pipe, sizeof c.pipe), 0, "sample and built-in defaults agree");
	cr_assert_eq(c.n_links, 1);
	cr_assert_str_eq(c.links[0].name, "radio0");
	cr_assert_eq(c.links[0].kind, GW_LINK_SERIAL);
	cr_assert_str_eq(c.links[0].path, "/dev/ttyUSB0");
	cr_assert_eq(c.links[0].baud, 57600);
}

Test(gw_config, links_usb_ids_and_extension_sections)
{
	struct gw_config c;
	gw_config_defaults(&c);
	const char *p = write_file("a.ini", "[gateway]\nid = 42\n[link a]\ntype = serial\nusb = 0403:6015\n"
	                                     "usb_serial = XYZ\n[link b]\ntype = tty\npath = /dev/pts/3\nbaud = 115200\n"
	                                     "[upstream]\nendpoint = tcp://127.0.0.1:5570\n");
	cr_assert_eq(gw_config_load(&c, p), 0);
	cr_assert_eq(c.gw_id, 42);
	cr_assert_eq(c.n_links, 2);
	cr_assert(c.links[0].has_usb);
	cr_assert_eq(c.links[0].usb_vid, 0x0403);
	cr_assert_eq(c.links[0].usb_pid, 0x6015);
	cr_assert_str_eq(c.links[0].usb_serial, "XYZ");
	cr_assert_eq(c.links[1].kind, GW_LINK_TTY);
	cr_assert_str_eq(gw_config_get(&c, "upstream", "endpoint"), "tcp://127.0.0.1:5570");
	cr_assert_null(gw_config_get(&c, "upstream", "nope"));
}

Test(gw_config, early_commit_and_status_zmq)
{
	struct gw_config c;
	gw_config_defaults(&c);
	cr_assert_eq(c.pipe.early_commit, 0, "FIX ACKs follow the group commit by default");
	cr_assert_str_eq(c.status_zmq, "", "no ZeroMQ status by default");
	const char *p = write_file("z.ini", "[gateway]\nstatus_zmq = tcp://127.0.0.1:5571\n[spool]\nearly_commit = yes\n");
	cr_assert_eq(gw_config_load(&c, p), 0);
	cr_assert_eq(c.pipe.early_commit, 1);
	cr_assert_str_eq(c.status_zmq, "tcp://127.0.0.1:5571");
}

Test(gw_config, typos_and_bad_values_are_errors)
{
	static const char *const bad[] = {
		"[gateway]\nidd = 1\n",            "[gateway]\nid = 0\n",          "[gateway]\nid = 70000\n",
		"[spool]\ncommit_ms = 500\n",       "[ack]\nevery = -1\n",          "[ack]\ncredit = 65\n",
		"[link x]\ntype = serial\n",        "[link x]\ntype = carrier\n",   "[nonsense]\na = b\n",
		"[link x]\nusb = 12345\n",          "[gateway]\nlog_level = loud\n", "not an ini line\n",
		"[spool]\nearly_commit = maybe\n", "[gateway]\nstatus_zmq = localhost:5571\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct gw_config c;
		gw_config_defaults(&c);
		cr_expect_eq(gw_config_load(&c, write_file("bad.ini", bad[i])), -EINVAL, "accepted: %s", bad[i]);
	}
	struct gw_config c;
	gw_config_defaults(&c);
	cr_assert_eq(gw_config_load(&c, tu_path("missing.ini")), -ENOENT);
}

Test(gw_config, key_file)
{
	struct gw_key k[4];
	size_t n;
	const char *p = write_file("keys", "# comment\n258 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
	                                   "0x0103   FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF # two\n\n");
	cr_assert_eq(gw_keys_load(p, k, 4, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(k[0].collar_id, 258);
	cr_assert_eq(k[0].key[31], 0x1f);
	cr_assert_eq(k[1].collar_id, 0x103);
	cr_assert_eq(k[1].key[0], 0xff);
	cr_assert_eq(gw_keys_load(write_file("k2", "5 0011\n"), k, 4, &n), -EINVAL, "short key");
	cr_assert_eq(gw_keys_load(write_file("k3", "0 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"),
	                          k, 4, &n),
	             -EINVAL, "collar 0");
	cr_assert_eq(gw_keys_load(write_file("k4", "7 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
	                                           "7 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"),
	                          k, 4, &n),
	             -EINVAL, "duplicate");
}
