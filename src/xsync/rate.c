/* rate.c: x/time/rate.Limiter for tasks (see uvgo/xsync.h).
 *
 * The arithmetic is Go's, on uvgo_now() nanoseconds, under a spinlock (the
 * critical sections are a few floating-point operations; nothing blocks).
 *
 * State: tokens_ at time last_ (the bucket may be in debt: reservations
 * take tokens that have not accrued yet), and last_event_, the latest time
 * any reservation may act.  advance(t) is the level at t: tokens_ plus
 * what accrued since last_, capped at the burst.  A t before last_ accrues
 * nothing, and the call that then records the level records t as last_:
 * "last" moves back, as in Go (x/time/rate's TestLimiterJumpBackwards and
 * TestReserveJumpBack), and tokens accrue again from there.
 *
 * Reserve n at t: level = advance(t) - n.  If that is negative the holder
 * waits until the debt is repaid: wait = -level / limit seconds.  It is
 * granted if n <= burst and wait <= the caller's maximum (0 for allow, the
 * time to the context's deadline for wait, unbounded for reserve), and then
 * the limiter records the new level at t and time_to_act = t + wait as
 * last_event_.
 *
 * Cancel at t gives tokens back, but only those no later reservation has
 * counted on: every reservation after r was made against a level that
 * already lacked r's tokens, and pushed last_event_ further by its own
 * share, so the tokens "behind" r are
 *
 *     restore = r.tokens - (last_event_ - r.time_to_act) * r.limit
 *
 * (nothing if that is <= 0, or if r's time to act has passed: it is
 * spent).  The level at t gets them back, capped at the burst; and if r
 * was the latest reservation, last_event_ moves back to when r would have
 * acted without them (if that is not in the past).  A cancelled
 * reservation holds no tokens any more, so cancelling it again does
 * nothing (Go restores twice).
 *
 * Limit 0 is not special (x/time/rate since v0.6.0, golang/go#68541):
 * nothing accrues, so the bucket hands out what it holds (it starts full)
 * and then nothing until a set_limit makes tokens accrue again; the burst
 * is never spent.  A reservation past the bucket would wait forever: it
 * is granted (a Wait without deadline sleeps until its context is done)
 * with a time to act of "never", as Go's.
 *
 * The calls without a time read the clock under the lock, so that they
 * are timed in the order they take it.  Read before (as Go's Reserve
 * does), a caller that waited for the lock (behind a holder whose thread
 * was preempted: milliseconds on a loaded machine) brings a time before
 * last_, which moves last_ back, and the stretch between accrues twice:
 * concurrent waiters got through faster than the limit.
 */
#include "sync/wait.h"

static inline uvgo_spinlock_t *lock_of(uvgo_limiter_t *l)
{
    return (uvgo_spinlock_t *)&l->lock_;
}

static int bad_limit(double limit)
{
    return isnan(limit) || limit < 0;
}

/* Go's durationFromTokens: how long `tokens` take to accrue (negative
 * for negative tokens), saturating instead of overflowing. */
static int64_t duration_from_tokens(double limit, double tokens)
{
    double ns;
    if (limit <= 0)
        return UVGO_DURATION_INF;
    ns = tokens / limit * 1e9;
    if (ns >= (double)INT64_MAX)
        return UVGO_DURATION_INF;
    if (ns <= (double)INT64_MIN)
        return INT64_MIN;
    return (int64_t)ns;
}

/* a - b for two times, saturating. */
static int64_t time_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* Go's tokensFromDuration: what accrues in d. */
static double tokens_from_duration(double limit, int64_t d)
{
    if (limit <= 0)
        return 0;
    /* Whole seconds and the rest apart, to keep the rounding small (Go
     * issue 34861). */
    return (double)(d / UVGO_SECOND) * limit +
           (double)(d % UVGO_SECOND) * limit / 1e9;
}

/* Go's advance: the level at t, without changing the limiter; nothing
 * accrues for a t before last_.  Caller holds the lock. */
static double advance(uvgo_limiter_t *l, int64_t t)
{
    double tokens = l->tokens_;
    uvgo__assert(uvgo__spin_held(lock_of(l)));
    if (t > l->last_)
        tokens += tokens_from_duration(l->limit_, time_sub(t, l->last_));
    if (tokens > (double)l->burst_)
        tokens = (double)l->burst_;
    return tokens;
}

/* The time a call works at: *t, or the clock for a call without one (see
 * the top).  Caller holds the lock. */
static int64_t time_locked(uvgo_limiter_t *l, const int64_t *t)
{
    uvgo__assert(uvgo__spin_held(lock_of(l)));
    (void)l;
    return t ? *t : uvgo_now();
}

/* Caller holds the lock. */
static void reserve_locked(uvgo_limiter_t *l, int64_t t, int n,
                           int64_t max_wait, uvgo_reservation_t *r)
{
    double tokens;
    int64_t wait = 0;

    uvgo__assert(uvgo__spin_held(lock_of(l)));
    r->lim_ = l;
    r->limit_ = l->limit_;
    r->ok_ = 0;
    r->tokens_ = 0;
    r->time_to_act_ = t;
    if (isinf(l->limit_)) {
        r->ok_ = 1;
        r->tokens_ = n;
        return;
    }
    tokens = advance(l, t) - n;
    if (tokens < 0)
        wait = duration_from_tokens(l->limit_, -tokens);
    if (n > l->burst_ || wait > max_wait)
        return;
    r->ok_ = 1;
    r->tokens_ = n;
    r->time_to_act_ = uvgo__time_add(t, wait);
    l->last_ = t;
    l->tokens_ = tokens;
    l->last_event_ = r->time_to_act_;
}

int uvgo_limiter_init(uvgo_limiter_t *l, double limit, int burst)
{
    if (!l || bad_limit(limit) || burst < 0)
        return UVGO_EINVAL;
    memset(l, 0, sizeof *l);
    l->limit_ = limit;
    l->burst_ = burst;
    l->tokens_ = burst;
    l->last_ = uvgo_now();
    return 0;
}

int uvgo_rate_every(uvgo_duration_t interval, double *limit)
{
    if (!limit || interval <= 0)
        return UVGO_EINVAL;
    *limit = 1e9 / (double)interval;
    return 0;
}

double uvgo_limiter_limit(uvgo_limiter_t *l)
{
    double v;
    if (!l)
        return 0;
    uvgo__spin_lock(lock_of(l), UVGO_RANK_XSYNC);
    v = l->limit_;
    uvgo__spin_unlock(lock_of(l));
    return v;
}

int uvgo_limiter_burst(uvgo_limiter_t *l)
{
    int v;
    if (!l)
        return 0;
    uvgo__spin_lock(lock_of(l), UVGO_RANK_XSYNC);
    v = l->burst_;
    uvgo__spin_unlock(lock_of(l));
    return v;
}

static int allow_at(uvgo_limiter_t *l, const int64_t *t, int n)
{
    uvgo_reservation_t r;
    if (!l || n < 0)
        return 0;
    uvgo__spin_lock(lock_of(l), UVGO_RANK_XSYNC);
    reserve_locked(l, time_locked(l, t), n, 0, &r);
    uvgo__spin_unlock(lock_of(l));
    return r.ok_;
}

int uvgo_limiter_allow_n(uvgo_limiter_t *l, int64_t t, int n)
{
    return allow_at(l, &t, n);
}

int uvgo_limiter_allow(uvgo_limiter_t *l)
{
    return allow_at(l, NULL, 1);
}

static int reserve_at(uvgo_limiter_t *l, const int64_t *t, int n,
                      uvgo_reservation_t *r)
{
    if (!l || !r || n < 0)
        return UVGO_EINVAL;
    uvgo__spin_lock(lock_of(l), UVGO_RANK_XSYNC);
    reserve_locked(l, time_locked(l, t), n, UVGO_DURATION_INF, r);
    uvgo__spin_unlock(lock_of(l));
    return 0;
}

int uvgo_limiter_reserve_n(uvgo_limiter_t *l, int64_t t, int n,
                           uvgo_reservation_t *r)
{
    return reserve_at(l, &t, n, r);
}

int uvgo_limiter_reserve(uvgo_limiter_t *l, uvgo_reservation_t *r)
{
    return reserve_at(l, NULL, 1, r);
}

int uvgo_reservation_ok(const uvgo_reservation_t *r)
{
    return r && r->ok_;
}

uvgo_duration_t uvgo_reservation_delay_from(const uvgo_reservation_t *r,
                                            int64_t t)
{
    if (!r || !r->ok_)
        return UVGO_DURATION_INF;
    return r->time_to_act_ > t ? time_sub(r->time_to_act_, t) : 0;
}

uvgo_duration_t uvgo_reservation_delay(const uvgo_reservation_t *r)
{
    return uvgo_reservation_delay_from(r, uvgo_now());
}

static void cancel_at(uvgo_reservation_t *r, const int64_t *at)
{
    uvgo_limiter_t *l;
    double restore, tokens;
    int64_t t;

    if (!r || !r->ok_)
        return;
    l = r->lim_;
    uvgo__spin_lock(lock_of(l), UVGO_RANK_XSYNC);
    t = time_locked(l, at);
    if (isinf(l->limit_) || r->tokens_ == 0 || r->time_to_act_ < t)
        goto out;
    restore = r->tokens_ -
              tokens_from_duration(r->limit_,
                                   time_sub(l->last_event_, r->time_to_act_));
    if (restore <= 0)
        goto out;
    tokens = advance(l, t) + restore;
    if (tokens > (double)l->burst_)
        tokens = (double)l->burst_;
    l->last_ = t;
    l->tokens_ = tokens;
    if (r->time_to_act_ == l->last_event_) {
        /* When r would have acted without its tokens (Go adds the
         * duration of -tokens: "never" again at limit 0). */
        int64_t prev = uvgo__time_add(
            r->time_to_act_,
            duration_from_tokens(r->limit_, -(double)r->tokens_));
        if (prev >= t)
            l->last_event_ = prev;
    }
out:
    r->tokens_ = 0; /* given back: a second cancel restores nothing */
    uvgo__spin_unlock(lock_of(l));
}

void uvgo_reservation_cancel_at(uvgo_reservation_t *r, int64_t t)
{
    cancel_at(r, &t);
}

void uvgo_reservation_cancel(uvgo_reservation_t *r)
{
    cancel_at(r, NULL);
}

int uvgo_limiter_wait_ctx(uvgo_limiter_t *l, int n, uvgo_ctx_t *ctx)
{
    uvgo_reservation_t r;
    int64_t now, deadline, max_wait = UVGO_DURATION_INF, delay;
    int err, has_deadline;

    if (!l || n < 0)
        return UVGO_EINVAL;
    if (!uvgo__task_self())
        return UVGO_ENOTTASK;
    uvgo__spin_lock(lock_of(l), UVGO_RANK_XSYNC);
    err = n > l->burst_ && !isinf(l->limit_);
    uvgo__spin_unlock(lock_of(l));
    if (err)
        return UVGO_EINVAL;
    if (ctx && (err = uvgo_ctx_err(ctx)))
        return err;
    has_deadline = uvgo_ctx_deadline(ctx, &deadline);
    uvgo__spin_lock(lock_of(l), UVGO_RANK_XSYNC);
    now = uvgo_now(); /* under the lock: see the top */
    if (has_deadline)
        max_wait = time_sub(deadline, now);
    reserve_locked(l, now, n, max_wait, &r);
    uvgo__spin_unlock(lock_of(l));
    if (!r.ok_)
        return UVGO_ETIMEDOUT; /* the wait would pass the deadline */
    delay = uvgo_reservation_delay_from(&r, now);
    if (delay == 0)
        return 0;
    if ((err = uvgo_sleep_ctx(delay, ctx))) {
        uvgo_reservation_cancel(&r);
        return err;
    }
    return 0;
}

int uvgo_limiter_wait(uvgo_limiter_t *l, int n)
{
    return uvgo_limiter_wait_ctx(l, n, NULL);
}

static int set_at(uvgo_limiter_t *l, const int64_t *at, const double *limit,
                  const int *burst)
{
    int64_t t;
    if (!l || (limit && bad_limit(*limit)) || (burst && *burst < 0))
        return UVGO_EINVAL;
    uvgo__spin_lock(lock_of(l), UVGO_RANK_XSYNC);
    t = time_locked(l, at);
    l->tokens_ = advance(l, t);
    l->last_ = t;
    if (limit)
        l->limit_ = *limit;
    if (burst)
        l->burst_ = *burst;
    uvgo__spin_unlock(lock_of(l));
    return 0;
}

int uvgo_limiter_set_limit_at(uvgo_limiter_t *l, int64_t t, double limit)
{
    return set_at(l, &t, &limit, NULL);
}

int uvgo_limiter_set_limit(uvgo_limiter_t *l, double limit)
{
    return set_at(l, NULL, &limit, NULL);
}

int uvgo_limiter_set_burst_at(uvgo_limiter_t *l, int64_t t, int burst)
{
    return set_at(l, &t, NULL, &burst);
}

int uvgo_limiter_set_burst(uvgo_limiter_t *l, int burst)
{
    return set_at(l, NULL, NULL, &burst);
}

static double tokens_at(uvgo_limiter_t *l, const int64_t *t)
{
    double v;
    if (!l)
        return 0;
    uvgo__spin_lock(lock_of(l), UVGO_RANK_XSYNC);
    v = advance(l, time_locked(l, t));
    uvgo__spin_unlock(lock_of(l));
    return v;
}

double uvgo_limiter_tokens_at(uvgo_limiter_t *l, int64_t t)
{
    return tokens_at(l, &t);
}

double uvgo_limiter_tokens(uvgo_limiter_t *l)
{
    return tokens_at(l, NULL);
}
