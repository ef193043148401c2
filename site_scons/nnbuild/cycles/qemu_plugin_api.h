/* The few declarations of QEMU's TCG plugin API (API version 1, QEMU 6.x-8.x) that
 * cycle_plugin.c calls, written from QEMU's documentation of the API (docs/devel/tcg-plugins)
 * because Debian ships no header package for it. The functions are resolved at load time from
 * the qemu-system-arm binary that loads the plugin. */
#ifndef NN_QEMU_PLUGIN_API_H
#define NN_QEMU_PLUGIN_API_H

#include <stddef.h>
#include <stdint.h>

#define NN_QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
#define NN_QEMU_PLUGIN_API_VERSION 1   /* what QEMU 7.2 accepts (its minimum and current) */

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;          /* only passed through, never read */
struct qemu_plugin_tb;
struct qemu_plugin_insn;

enum qemu_plugin_cb_flags {
    QEMU_PLUGIN_CB_NO_REGS,
    QEMU_PLUGIN_CB_R_REGS,
    QEMU_PLUGIN_CB_RW_REGS,
};

typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);

/* What the plugin must define. */
NN_QEMU_PLUGIN_EXPORT extern int qemu_plugin_version;
NN_QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                              int argc, char **argv);

#endif
