/* switch-x86_64.S: context switch for x86_64 System V (see src/runtime/switch.h).
 *
 * Saves what the ABI says a callee must preserve: rbx, rbp, r12-r15, the
 * stack pointer, the SSE control/status word (MXCSR) and the x87 control
 * word.  Everything else is caller-saved, so the C caller has already spilled
 * what it needs. */

    .text

/* void uvgo__switch_to(uvgo__exec_t *from, uvgo__exec_t *to) */
    .globl  uvgo__switch_to
    .hidden uvgo__switch_to
    .type   uvgo__switch_to, @function
    .p2align 4
uvgo__switch_to:
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movq    (%rsi), %rsp
    /* Loaded unconditionally.  Rejected: compare the saved words with
     * the current ones and load only those that differ (commit 081c269,
     * from perf samples on ldmxcsr/fldcw in bench echo, which sat right
     * after the first load from the new stack and may have been its
     * cache miss).  On an AMD EPYC the compare made bench yield ~10%
     * slower (min of 21 alternating runs: 13.6 against 12.2 ns) and
     * pingpong local ~4% slower, with four more instructions a switch.
     * Nor one 8-byte compare of the slot: that load spans the two
     * smaller stores just made and stalls on store forwarding. */
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   uvgo__switch_to, .-uvgo__switch_to

/* First code a new context runs: entry(arg), which never returns.  The CFI
 * marks the end of the call chain for debuggers and unwinders. */
    .type   uvgo__ctx_trampoline, @function
    .p2align 4
uvgo__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r12, %rdi
    callq   *%r13
    ud2
    .cfi_endproc
    .size   uvgo__ctx_trampoline, .-uvgo__ctx_trampoline

/* void uvgo__switch_make(uvgo__exec_t *ctx, void *lo, size_t size,
 *                     void (*entry)(void *), void *arg)
 * Builds the frame drawn in src/runtime/switch.h. */
    .globl  uvgo__switch_make
    .hidden uvgo__switch_make
    .type   uvgo__switch_make, @function
    .p2align 4
uvgo__switch_make:
    .cfi_startproc
    leaq    (%rsi, %rdx), %rax          /* top = lo + size */
    andq    $-16, %rax
    movq    $0, -8(%rax)
    movq    $0, -16(%rax)
    leaq    uvgo__ctx_trampoline(%rip), %r9
    movq    %r9, -24(%rax)
    movq    $0, -32(%rax)               /* rbp */
    movq    $0, -40(%rax)               /* rbx */
    movq    %r8, -48(%rax)              /* r12 = arg */
    movq    %rcx, -56(%rax)             /* r13 = entry */
    movq    $0, -64(%rax)               /* r14 */
    movq    $0, -72(%rax)               /* r15 */
    movl    $0x1f80, -80(%rax)          /* MXCSR: all exceptions masked */
    movw    $0x037f, -76(%rax)          /* x87: all masked, 64-bit precision */
    subq    $80, %rax
    movq    %rax, (%rdi)
    ret
    .cfi_endproc
    .size   uvgo__switch_make, .-uvgo__switch_make

    .section .note.GNU-stack,"",@progbits
