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
    /* The control-word slot: MXCSR in bytes 0-3, the x87 control word in
     * 4-5, and 6-7 zero (the push), so that the slot compares as one
     * word. */
    pushq   $0
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movq    (%rsp), %rax
    movq    (%rsi), %rsp
    /* Load the control words only when they differ, as they almost never
     * do: ldmxcsr and fldcw cost more than a compare (perf, bench echo:
     * most of this function's samples sat on them).  One 64-bit compare
     * for both: three instructions fewer per switch than two compares
     * (callgrind, bench yield). */
    cmpq    (%rsp), %rax
    jne     2f
1:  addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
2:  ldmxcsr (%rsp)
    fldcw   4(%rsp)
    jmp     1b
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
    /* MXCSR 0x1f80 (all exceptions masked) in bytes 0-3, x87 control
     * word 0x037f (all masked, 64-bit precision) in 4-5, 6-7 zero: the
     * slot uvgo__switch_to compares as one word. */
    movabsq $0x0000037f00001f80, %r9
    movq    %r9, -80(%rax)
    subq    $80, %rax
    movq    %rax, (%rdi)
    ret
    .cfi_endproc
    .size   uvgo__switch_make, .-uvgo__switch_make

    .section .note.GNU-stack,"",@progbits
