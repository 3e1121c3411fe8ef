/* switch-aarch64.S: context switch for AArch64 (AAPCS64; see src/runtime/switch.h).
 *
 * Saves what a callee must preserve: x19-x28, the frame pointer x29, the
 * link register x30, the low halves of v8-v15 (d8-d15), the stack pointer and
 * the floating-point control register.  Frame layout, 176 bytes:
 *
 *     sp+0   x19 x20      sp+48  x25 x26      sp+96   d8  d9
 *     sp+16  x21 x22      sp+64  x27 x28      sp+112  d10 d11
 *     sp+32  x23 x24      sp+80  x29 x30      sp+128  d12 d13
 *                                              sp+144  d14 d15
 *                                              sp+160  fpcr
 */

    .text

/* void uvgo__switch_to(uvgo__exec_t *from, uvgo__exec_t *to) */
    .globl  uvgo__switch_to
    .hidden uvgo__switch_to
    .type   uvgo__switch_to, %function
    .p2align 4
uvgo__switch_to:
    .cfi_startproc
    sub     sp, sp, #176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr
    str     x9, [sp, #160]
    mov     x9, sp
    str     x9, [x0]
    ldr     x9, [x1]
    mov     sp, x9
    ldr     x9, [sp, #160]
    msr     fpcr, x9
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #176
    ret
    .cfi_endproc
    .size   uvgo__switch_to, .-uvgo__switch_to

/* First code a new context runs: entry(arg), which never returns. */
    .type   uvgo__ctx_trampoline, %function
    .p2align 4
uvgo__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov     x0, x19
    blr     x20
    brk     #0
    .cfi_endproc
    .size   uvgo__ctx_trampoline, .-uvgo__ctx_trampoline

/* void uvgo__switch_make(uvgo__exec_t *ctx, void *lo, size_t size,
 *                     void (*entry)(void *), void *arg) */
    .globl  uvgo__switch_make
    .hidden uvgo__switch_make
    .type   uvgo__switch_make, %function
    .p2align 4
uvgo__switch_make:
    .cfi_startproc
    add     x9, x1, x2                  /* top = lo + size */
    and     x9, x9, #~15
    sub     x9, x9, #176
    mov     x10, #0
    mov     x11, #0
    stp     x10, x11, [x9, #16]
    stp     x10, x11, [x9, #32]
    stp     x10, x11, [x9, #48]
    stp     x10, x11, [x9, #64]
    stp     x10, x11, [x9, #96]
    stp     x10, x11, [x9, #112]
    stp     x10, x11, [x9, #128]
    stp     x10, x11, [x9, #144]
    str     x10, [x9, #160]             /* fpcr: round to nearest, no traps */
    stp     x4, x3, [x9, #0]            /* x19 = arg, x20 = entry */
    adr     x11, uvgo__ctx_trampoline
    stp     x10, x11, [x9, #80]         /* x29 = 0, x30 = trampoline */
    str     x9, [x0]
    ret
    .cfi_endproc
    .size   uvgo__switch_make, .-uvgo__switch_make

    .section .note.GNU-stack,"",@progbits
