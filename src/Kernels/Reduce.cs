using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Mlx.Kernels;

/// <summary>An associative reduction: its identity, a scalar combine, and span forms.</summary>
public interface IReduceOp<T> where T : unmanaged
{
    static abstract T Identity { get; }

    static abstract T Combine(T a, T b);

    /// <summary>Reduces a whole contiguous span (not empty).</summary>
    static abstract T Reduce(ReadOnlySpan<T> x);

    /// <summary>acc[i] = combine(acc[i], x[i]).</summary>
    static abstract void Accumulate(Span<T> acc, ReadOnlySpan<T> x);
}

public struct SumReduce<T> : IReduceOp<T> where T : unmanaged, INumber<T>
{
    public static T Identity => T.Zero;
    public static T Combine(T a, T b) => a + b;
    public static T Reduce(ReadOnlySpan<T> x) => TensorPrimitives.Sum(x);
    public static void Accumulate(Span<T> acc, ReadOnlySpan<T> x) => TensorPrimitives.Add(acc, x, acc);
}

public struct ProdReduce<T> : IReduceOp<T> where T : unmanaged, INumber<T>
{
    public static T Identity => T.One;
    public static T Combine(T a, T b) => a * b;
    public static T Reduce(ReadOnlySpan<T> x) => TensorPrimitives.Product(x);
    public static void Accumulate(Span<T> acc, ReadOnlySpan<T> x) => TensorPrimitives.Multiply(acc, x, acc);
}

/// <summary>Max that propagates NaN.</summary>
public struct MaxReduce<T> : IReduceOp<T> where T : unmanaged, INumber<T>, IMinMaxValue<T>
{
    public static T Identity => T.IsNaN(T.MinValue) ? T.MinValue : (typeof(T) == typeof(float) ? T.CreateTruncating(float.NegativeInfinity) : typeof(T) == typeof(double) ? T.CreateTruncating(double.NegativeInfinity) : T.MinValue);
    public static T Combine(T a, T b) => MaximumOp<T>.Apply(a, b);
    public static T Reduce(ReadOnlySpan<T> x) => TensorPrimitives.Max(x);
    public static void Accumulate(Span<T> acc, ReadOnlySpan<T> x) => TensorPrimitives.Max(acc, x, acc);
}

public struct MinReduce<T> : IReduceOp<T> where T : unmanaged, INumber<T>, IMinMaxValue<T>
{
    public static T Identity => typeof(T) == typeof(float) ? T.CreateTruncating(float.PositiveInfinity) : typeof(T) == typeof(double) ? T.CreateTruncating(double.PositiveInfinity) : T.MaxValue;
    public static T Combine(T a, T b) => MinimumOp<T>.Apply(a, b);
    public static T Reduce(ReadOnlySpan<T> x) => TensorPrimitives.Min(x);
    public static void Accumulate(Span<T> acc, ReadOnlySpan<T> x) => TensorPrimitives.Min(acc, x, acc);
}

/// <summary>Reductions over contiguous (A, K, B) views: reduce the middle axis K.</summary>
public static unsafe class Reduction
{
    /// <summary>o[a, b] = reduce over k of x[a, k, b]; x and o contiguous. K may be 0 (identity).</summary>
    public static void Run<T, TOp>(T* x, long A, long K, long B, T* o) where T : unmanaged where TOp : IReduceOp<T>
    {
        nint px = (nint)x, po = (nint)o;
        if (K == 0)
        {
            new Span<T>(o, checked((int)(A * B))).Fill(TOp.Identity);
            return;
        }
        if (B == 1)
        {
            if (A == 1)
            {
                // One long reduction: partial results per 1 MB block, combined in block order (so the result does
                // not depend on the thread count or on which thread took which block).
                long blocks = (K + Block - 1) / Block;
                var partial = new T[blocks];
                Parallelism.ForBlocks(blocks, Block, b =>
                {
                    long start = b * Block, n = Math.Min(K, start + Block) - start;
                    partial[b] = IsFloatSum<T, TOp>() ? (T)(object)FloatSum.Contiguous((float*)px + start, n)
                        : TOp.Reduce(new ReadOnlySpan<T>((T*)px + start, (int)n));
                });
                T acc = partial[0];
                for (long b = 1; b < blocks; b++)
                {
                    acc = TOp.Combine(acc, partial[b]);
                }
                *o = acc;
                return;
            }
            if (IsFloatExtreme<T, TOp>(out bool max))
            {
                long rows = Math.Max(4, Block / K / 4 * 4);
                Parallelism.ForBlocks((A + rows - 1) / rows, rows * K, b =>
                {
                    long first = b * rows, n = Math.Min(rows, A - first);
                    if (typeof(T) == typeof(float)) FloatExtreme.Rows((float*)px + first * K, n, K, K, (float*)po + first, max);
                    else FloatExtreme.Rows((double*)px + first * K, n, K, K, (double*)po + first, max);
                });
                return;
            }
            if (IsFloatSum<T, TOp>())
            {
                long rows = Math.Max(4, Block / K / 4 * 4);
                Parallelism.ForBlocks((A + rows - 1) / rows, rows * K, b => FloatSum.Rows((float*)px + b * rows * K, Math.Min(rows, A - b * rows), K, K, (float*)po + b * rows));
                return;
            }
            Parallelism.For(A, K, (s, e) =>
            {
                for (long a = s; a < e; a++)
                {
                    ((T*)po)[a] = TOp.Reduce(new ReadOnlySpan<T>((T*)px + a * K, (int)K));
                }
            });
            return;
        }
        if (A == 1)
        {
            if (B <= 256 && K >= 64 && K * B >= 2 * ElementwiseWork)
            {
                SplitRows<T, TOp>((T*)px, K, B, (T*)po);
                return;
            }
            Parallelism.For(B, K, (s, e) => Rows<T, TOp>((T*)px + s, K, B, (T*)po + s, e - s));
            return;
        }
        Parallelism.For(A, K * B, (s, e) =>
        {
            for (long a = s; a < e; a++)
            {
                Rows<T, TOp>((T*)px + a * K * B, K, B, (T*)po + a * B, B);
            }
        });
    }

    /// <summary>Elements per block of a bandwidth-bound reduction handed to a thread at a time.</summary>
    private const long Block = 1 << 18;

    // JIT-time constants: float32/64 max and min take FloatExtreme's kernel.
    private static bool IsFloatExtreme<T, TOp>(out bool max)
    {
        max = typeof(TOp) == typeof(MaxReduce<float>) || typeof(TOp) == typeof(MaxReduce<double>);
        return max || typeof(TOp) == typeof(MinReduce<float>) || typeof(TOp) == typeof(MinReduce<double>);
    }

    // A JIT-time constant: float sums take FloatSum's multi-stream kernel.
    private static bool IsFloatSum<T, TOp>() => typeof(T) == typeof(float) && typeof(TOp) == typeof(SumReduce<float>) && Vector512.IsHardwareAccelerated;

    private const long ElementwiseWork = Parallelism.ElementwiseThreshold;

    /// <summary>
    /// Many short rows reduced into one (a bias gradient: 200K rows of 16 channels): each thread reduces its contiguous
    /// share of the rows into a row of its own, combined in thread order (the result depends on the thread count only),
    /// where splitting the few columns between threads left each a span call per row. Float sums of rows of up to 64
    /// (a multiple of 16) keep the running row in Vector512 registers.
    /// </summary>
    private static void SplitRows<T, TOp>(T* x, long K, long B, T* o) where T : unmanaged where TOp : IReduceOp<T>
    {
        int threads = (int)Math.Clamp(K * B / ElementwiseWork, 1, Parallelism.MaxThreads);
        var partial = new T[threads * B];
        nint px = (nint)x;
        Parallelism.Run(threads, t =>
        {
            long k0 = t * K / threads, k1 = (t + 1) * K / threads;
            fixed (T* acc = &partial[t * B])
            {
                if (IsFloatSum<T, TOp>() && B % 16 == 0 && B <= 64)
                {
                    SumRows512((float*)px + k0 * B, k1 - k0, (int)B, (float*)acc);
                }
                else
                {
                    Rows<T, TOp>((T*)px + k0 * B, k1 - k0, B, acc, B);
                }
            }
        });
        var dst = new Span<T>(o, (int)B);
        new ReadOnlySpan<T>(partial, 0, (int)B).CopyTo(dst);
        for (int t = 1; t < threads; t++)
        {
            TOp.Accumulate(dst, new ReadOnlySpan<T>(partial, t * (int)B, (int)B));
        }
    }

    // acc[0..B) = sum over k of x[k*B .. k*B + B), B = 16, 32, 48 or 64.
    private static void SumRows512(float* x, long rows, int B, float* acc)
    {
        int vecs = B / 16;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (long k = 0; k < rows; k++, x += B)
        {
            a0 += Vector512.Load(x);
            if (vecs > 1) a1 += Vector512.Load(x + 16);
            if (vecs > 2) a2 += Vector512.Load(x + 32);
            if (vecs > 3) a3 += Vector512.Load(x + 48);
        }
        a0.Store(acc);
        if (vecs > 1) a1.Store(acc + 16);
        if (vecs > 2) a2.Store(acc + 32);
        if (vecs > 3) a3.Store(acc + 48);
    }

    // acc[0..n) = reduce_k x[k*stride + 0..n)
    private static void Rows<T, TOp>(T* x, long K, long stride, T* acc, long n) where T : unmanaged where TOp : IReduceOp<T>
    {
        var dst = new Span<T>(acc, (int)n);
        new ReadOnlySpan<T>(x, (int)n).CopyTo(dst);
        for (long k = 1; k < K; k++)
        {
            TOp.Accumulate(dst, new ReadOnlySpan<T>(x + k * stride, (int)n));
        }
    }

    /// <summary>Index of the max (or min) along K of contiguous (A, K, B); the first index wins ties, NaN wins.</summary>
    public static void ArgReduce<T>(T* x, long A, long K, long B, uint* o, bool max) where T : unmanaged, INumber<T>
    {
        nint px = (nint)x, po = (nint)o;
        if (B == 1 && K >= 16 && (typeof(T) == typeof(float) || typeof(T) == typeof(double)))
        {
            // Contiguous rows: the extreme by a vectorized NaN-propagating Max/Min, then the first index holding it
            // (equal compares -0 and +0 alike, as the scalar rule does), found 1 vector at a time.
            Parallelism.For(A, K, (s, e) =>
            {
                for (long a = s; a < e; a++)
                {
                    T* p = (T*)px + a * K;
                    T best = Extreme(p, K, max);
                    ((uint*)po)[a] = (uint)FirstIndexOf(p, K, best);
                }
            });
            return;
        }
        if (B >= 8 && Vector256.IsHardwareAccelerated)
        {
            if (typeof(T) == typeof(float)) { ArgReduceColumns<float, int>((float*)x, A, K, B, o, max); return; }
            if (typeof(T) == typeof(double)) { ArgReduceColumns<double, long>((double*)x, A, K, B, o, max); return; }
        }
        Parallelism.For(A * B, K, (s, e) =>
        {
            for (long ab = s; ab < e; ab++)
            {
                long a = ab / B, b = ab % B;
                T* p = (T*)px + a * K * B + b;
                T best = p[0];
                uint bi = 0;
                if (!T.IsNaN(best))
                {
                    for (long k = 1; k < K; k++)
                    {
                        T v = p[k * B];
                        if (T.IsNaN(v))
                        {
                            bi = (uint)k;
                            break;
                        }
                        if (max ? v > best : v < best)
                        {
                            best = v;
                            bi = (uint)k;
                        }
                    }
                }
                ((uint*)po)[ab] = bi;
            }
        });
    }

    /// <summary>
    /// Arg-reduction over a non-last axis: the K rows of each (a) are walked in order, and a block of columns keeps
    /// its best value and index in vectors, so memory is read row after row instead of a column at a time (a stride
    /// of B elements per step). The rule is the scalar loop's: the first extreme wins, the first NaN wins for good.
    /// </summary>
    private static void ArgReduceColumns<T, TI>(T* x, long A, long K, long B, uint* o, bool max)
        where T : unmanaged, INumber<T> where TI : unmanaged, IBinaryInteger<TI>
    {
        const int W = 256;
        int lanes = Vector256<T>.Count;
        long blocks = (B + W - 1) / W;
        nint px = (nint)x, po = (nint)o;
        Parallelism.For(A * blocks, K * W, (s, e) =>
        {
            T* best = stackalloc T[W];
            TI* index = stackalloc TI[W];
            for (long item = s; item < e; item++)
            {
                long a = item / blocks, b0 = item % blocks * W;
                int w = (int)Math.Min(W, B - b0);
                T* column = (T*)px + a * K * B + b0;
                new ReadOnlySpan<T>(column, w).CopyTo(new Span<T>(best, w));
                new Span<TI>(index, w).Clear();
                for (long k = 1; k < K; k++)
                {
                    T* row = column + k * B;
                    var vk = Vector256.Create(TI.CreateTruncating(k));
                    int j = 0;
                    for (; j + lanes <= w; j += lanes)
                    {
                        var v = Vector256.Load(row + j);
                        var bv = Vector256.Load(best + j);
                        var better = max ? Vector256.GreaterThan(v, bv) : Vector256.LessThan(v, bv);
                        var update = (better | ~Vector256.Equals(v, v)) & Vector256.Equals(bv, bv);
                        Vector256.ConditionalSelect(update, v, bv).Store(best + j);
                        Vector256.ConditionalSelect(update.As<T, TI>(), vk, Vector256.Load(index + j)).Store(index + j);
                    }
                    for (; j < w; j++)
                    {
                        T v = row[j], bv = best[j];
                        if (!T.IsNaN(bv) && (T.IsNaN(v) || (max ? v > bv : v < bv)))
                        {
                            best[j] = v;
                            index[j] = TI.CreateTruncating(k);
                        }
                    }
                }
                uint* dst = (uint*)po + a * B + b0;
                for (int j = 0; j < w; j++) dst[j] = uint.CreateTruncating(index[j]);
            }
        });
    }

    private static T Extreme<T>(T* row, long n, bool max) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            return (T)(object)FloatExtreme.Of((float*)row, n, max);
        }
        return (T)(object)FloatExtreme.Of((double*)row, n, max);
    }

    // The first k with p[k] == value, or the first NaN when value is NaN.
    private static long FirstIndexOf<T>(T* p, long n, T value) where T : unmanaged, INumber<T>
    {
        long k = 0;
        if (T.IsNaN(value))
        {
            while (k < n && !T.IsNaN(p[k])) k++;
            return k;
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var v = Vector256.Create(value);
            for (; k + Vector256<T>.Count <= n; k += Vector256<T>.Count)
            {
                uint bits = Vector256.Equals(Vector256.Load(p + k), v).ExtractMostSignificantBits();
                if (bits != 0)
                {
                    return k + BitOperations.TrailingZeroCount(bits);
                }
            }
        }
        while (k < n && p[k] != value) k++;
        return k;
    }
}

/// <summary>
/// Float32 sums that keep several memory streams in flight (four rows, or four quarters of one range, at a time, each
/// with two Vector512 accumulators): one stream per core leaves read bandwidth unused. Accumulation stays float32.
/// </summary>
internal static unsafe class FloatSum
{
    /// <summary>o[r] = sum of x[r*ld .. r*ld + len) for r in [0, rows).</summary>
    public static void Rows(float* x, long rows, long len, long ld, float* o)
    {
        // Rows r, r + q, r + 2q, r + 3q at a time (q = rows / 4): with contiguous rows, four sequential streams a
        // quarter of the block apart, as the whole-array sum reads (same-process A/B on 4096 x 4096: 80 GB/s on an
        // idle memory bus against 66 for four neighbouring rows at a time).
        long q = rows / 4;
        for (long r = 0; r < q; r++)
        {
            Four(x + r * ld, q * ld, len, o + r, q);
        }
        for (long r = 4 * q; r < rows; r++)
        {
            o[r] = TensorPrimitives.Sum(new ReadOnlySpan<float>(x + r * ld, (int)len));
        }
    }

    /// <summary>Sum of x[0..n), read as four quarters side by side plus a tail.</summary>
    public static float Contiguous(float* x, long n)
    {
        long q = n / 4 / Vector512<float>.Count * Vector512<float>.Count;
        if (q == 0)
        {
            return TensorPrimitives.Sum(new ReadOnlySpan<float>(x, (int)n));
        }
        float* s = stackalloc float[4];
        Four(x, q, q, s, 1);
        return (s[0] + s[1]) + (s[2] + s[3]) + TensorPrimitives.Sum(new ReadOnlySpan<float>(x + 4 * q, (int)(n - 4 * q)));
    }

    // o[r * os] = sum of the row x + r*ld, len long, for r in [0, 4).
    private static void Four(float* x, long ld, long len, float* o, long os)
    {
        const int W = 16;
        float* x0 = x, x1 = x + ld, x2 = x + 2 * ld, x3 = x + 3 * ld;
        Vector512<float> a0 = default, b0 = default, a1 = default, b1 = default, a2 = default, b2 = default, a3 = default, b3 = default;
        long i = 0;
        for (; i + 2 * W <= len; i += 2 * W)
        {
            a0 += Vector512.Load(x0 + i); b0 += Vector512.Load(x0 + i + W);
            a1 += Vector512.Load(x1 + i); b1 += Vector512.Load(x1 + i + W);
            a2 += Vector512.Load(x2 + i); b2 += Vector512.Load(x2 + i + W);
            a3 += Vector512.Load(x3 + i); b3 += Vector512.Load(x3 + i + W);
        }
        if (i + W <= len)
        {
            a0 += Vector512.Load(x0 + i); a1 += Vector512.Load(x1 + i); a2 += Vector512.Load(x2 + i); a3 += Vector512.Load(x3 + i);
            i += W;
        }
        float t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        for (; i < len; i++)
        {
            t0 += x0[i]; t1 += x1[i]; t2 += x2[i]; t3 += x3[i];
        }
        o[0] = Vector512.Sum(a0 + b0) + t0;
        o[os] = Vector512.Sum(a1 + b1) + t1;
        o[2 * os] = Vector512.Sum(a2 + b2) + t2;
        o[3 * os] = Vector512.Sum(a3 + b3) + t3;
    }
}

/// <summary>
/// Max or min of float32/64 rows with Vector512's native (non-propagating) max/min, beside a detector that turns
/// non-zero on any NaN or infinity (x * 0 accumulated): rows that hold one, or whose extreme is a zero (whose sign the
/// native ops pick by operand order), are recomputed by TensorPrimitives, so results are its own: the first NaN if
/// there is one, +0 above -0. Four rows a quarter of the block apart are read side by side, as FloatSum does.
/// </summary>
internal static unsafe class FloatExtreme
{
    private interface IPick<T> where T : unmanaged
    {
        static abstract Vector512<T> Apply(Vector512<T> a, Vector512<T> b);
        static abstract bool Better(T a, T b);
        static abstract T Reference(ReadOnlySpan<T> row);
    }

    private struct MaxPick<T> : IPick<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static Vector512<T> Apply(Vector512<T> a, Vector512<T> b) => Vector512.MaxNative(a, b);
        public static bool Better(T a, T b) => a > b;
        public static T Reference(ReadOnlySpan<T> row) => TensorPrimitives.Max(row);
    }

    private struct MinPick<T> : IPick<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static Vector512<T> Apply(Vector512<T> a, Vector512<T> b) => Vector512.MinNative(a, b);
        public static bool Better(T a, T b) => a < b;
        public static T Reference(ReadOnlySpan<T> row) => TensorPrimitives.Min(row);
    }

    /// <summary>o[r] = max (or min) of x[r*ld .. r*ld + len) for r in [0, rows); len &gt; 0.</summary>
    public static void Rows<T>(T* x, long rows, long len, long ld, T* o, bool max) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (max) Rows<T, MaxPick<T>>(x, rows, len, ld, o); else Rows<T, MinPick<T>>(x, rows, len, ld, o);
    }

    /// <summary>Max (or min) of x[0..n); n &gt; 0.</summary>
    public static T Of<T>(T* x, long n, bool max) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T r;
        Rows(x, 1, n, n, &r, max);
        return r;
    }

    private static void Rows<T, TPick>(T* x, long rows, long len, long ld, T* o) where T : unmanaged, IFloatingPointIeee754<T> where TPick : IPick<T>
    {
        long q = Vector512.IsHardwareAccelerated && len >= 2 * Vector512<T>.Count ? rows / 4 : 0;
        for (long r = 0; r < q; r++)
        {
            Four<T, TPick>(x + r * ld, q * ld, len, o + r, q);
        }
        for (long r = 4 * q; r < rows; r++)
        {
            T* row = x + r * ld;
            o[r] = Vector512.IsHardwareAccelerated && len >= 2 * Vector512<T>.Count ? One<T, TPick>(row, len) : TPick.Reference(new ReadOnlySpan<T>(row, checked((int)len)));
        }
    }

    // o[r * os] for the rows x + r*ld, r in [0, 4), two accumulators each.
    private static void Four<T, TPick>(T* x, long ld, long len, T* o, long os) where T : unmanaged, IFloatingPointIeee754<T> where TPick : IPick<T>
    {
        int w = Vector512<T>.Count;
        T* x0 = x, x1 = x + ld, x2 = x + 2 * ld, x3 = x + 3 * ld;
        Vector512<T> a0 = Vector512.Load(x0), b0 = Vector512.Load(x0 + w), a1 = Vector512.Load(x1), b1 = Vector512.Load(x1 + w);
        Vector512<T> a2 = Vector512.Load(x2), b2 = Vector512.Load(x2 + w), a3 = Vector512.Load(x3), b3 = Vector512.Load(x3 + w);
        var zero = Vector512<T>.Zero;
        Vector512<T> z0 = Detect(a0, Detect(b0, zero)), z1 = Detect(a1, Detect(b1, zero));
        Vector512<T> z2 = Detect(a2, Detect(b2, zero)), z3 = Detect(a3, Detect(b3, zero));
        long i = 2 * w;
        for (; i + 2 * w <= len; i += 2 * w)
        {
            Vector512<T> v0 = Vector512.Load(x0 + i), u0 = Vector512.Load(x0 + i + w), v1 = Vector512.Load(x1 + i), u1 = Vector512.Load(x1 + i + w);
            Vector512<T> v2 = Vector512.Load(x2 + i), u2 = Vector512.Load(x2 + i + w), v3 = Vector512.Load(x3 + i), u3 = Vector512.Load(x3 + i + w);
            a0 = TPick.Apply(a0, v0); b0 = TPick.Apply(b0, u0); a1 = TPick.Apply(a1, v1); b1 = TPick.Apply(b1, u1);
            a2 = TPick.Apply(a2, v2); b2 = TPick.Apply(b2, u2); a3 = TPick.Apply(a3, v3); b3 = TPick.Apply(b3, u3);
            z0 = Detect(v0, Detect(u0, z0));
            z1 = Detect(v1, Detect(u1, z1));
            z2 = Detect(v2, Detect(u2, z2));
            z3 = Detect(v3, Detect(u3, z3));
        }
        // The rest a vector at a time, the last one overlapping what was read (repeats change no max or min).
        for (; i < len; i += w)
        {
            long at = Math.Min(i, len - w);
            Vector512<T> v0 = Vector512.Load(x0 + at), v1 = Vector512.Load(x1 + at), v2 = Vector512.Load(x2 + at), v3 = Vector512.Load(x3 + at);
            a0 = TPick.Apply(a0, v0); a1 = TPick.Apply(a1, v1); a2 = TPick.Apply(a2, v2); a3 = TPick.Apply(a3, v3);
            z0 = Detect(v0, z0); z1 = Detect(v1, z1);
            z2 = Detect(v2, z2); z3 = Detect(v3, z3);
        }
        o[0] = Finish<T, TPick>(TPick.Apply(a0, b0), z0, x0, len);
        o[os] = Finish<T, TPick>(TPick.Apply(a1, b1), z1, x1, len);
        o[2 * os] = Finish<T, TPick>(TPick.Apply(a2, b2), z2, x2, len);
        o[3 * os] = Finish<T, TPick>(TPick.Apply(a3, b3), z3, x3, len);
    }

    private static T One<T, TPick>(T* x, long len) where T : unmanaged, IFloatingPointIeee754<T> where TPick : IPick<T>
    {
        int w = Vector512<T>.Count;
        Vector512<T> a = Vector512.Load(x), b = Vector512.Load(x + w), zero = Vector512<T>.Zero;
        Vector512<T> z = Detect(a, Detect(b, zero));
        long i = 2 * w;
        for (; i + 2 * w <= len; i += 2 * w)
        {
            Vector512<T> v = Vector512.Load(x + i), u = Vector512.Load(x + i + w);
            a = TPick.Apply(a, v);
            b = TPick.Apply(b, u);
            z = Detect(v, Detect(u, z));
        }
        for (; i < len; i += w)
        {
            var v = Vector512.Load(x + Math.Min(i, len - w));
            a = TPick.Apply(a, v);
            z = Detect(v, z);
        }
        return Finish<T, TPick>(TPick.Apply(a, b), z, x, len);
    }

    // z + x * 0: stays zero until x holds a NaN or an infinity.
    private static Vector512<T> Detect<T>(Vector512<T> x, Vector512<T> z) where T : unmanaged =>
        typeof(T) == typeof(float) ? Vector512.FusedMultiplyAdd(x.As<T, float>(), Vector512<float>.Zero, z.As<T, float>()).As<float, T>()
        : Vector512.FusedMultiplyAdd(x.As<T, double>(), Vector512<double>.Zero, z.As<T, double>()).As<double, T>();

    private static T Finish<T, TPick>(Vector512<T> a, Vector512<T> z, T* row, long len) where T : unmanaged, IFloatingPointIeee754<T> where TPick : IPick<T>
    {
        T r = a.GetElement(0);
        for (int k = 1; k < Vector512<T>.Count; k++)
        {
            T e = a.GetElement(k);
            if (TPick.Better(e, r)) r = e;
        }
        return z == Vector512<T>.Zero && !T.IsZero(r) ? r : TPick.Reference(new ReadOnlySpan<T>(row, checked((int)len)));
    }
}

/// <summary>
/// Max/min over windows and the max/min gradient, for reductions over several non-adjacent axes that keep the last
/// (pooling: axes 2 and 4 of (N, H/2, 2, W/2, 2, C)). x (contiguous) is read as outer positions q (each at
/// <c>base(q)</c>, from <c>outerShape</c> and the x strides <c>outerStrides</c>) times window offsets times a run of
/// <c>c</c> contiguous elements; the reduced array holds row q's <c>c</c> results at q * c. One pass over x, where a
/// reduction axis by axis made one pass per run of axes over ever smaller copies.
/// </summary>
public static unsafe class WindowReduce
{
    // Runs of c are split into blocks of this many elements, so that one window row (or a few) still spreads over cores.
    private const int ColumnBlock = 256;

    /// <summary>o[q, j] = max (or min) over w of x[base(q) + window[w] + j]; NaN propagates, as Mx.Max's.</summary>
    public static void Extreme<T>(T* x, T* o, int[] outerShape, long[] outerStrides, long[] window, int c, bool max)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rows = new ExtremeRows<T> { X = x, O = o, Window = window, C = c, Max = max };
        Walk(outerShape, outerStrides, c, window.Length, rows);
    }

    /// <summary>
    /// The gradient of <see cref="Extreme{T}"/>: dx = g / count where x equals its window's extreme y, else 0 * (g /
    /// count), count being the window's number of ties (MLX's mask * (g / count), NaN windows included). Each window
    /// row is read twice while it is in cache: once to count, once to write.
    /// </summary>
    public static void ExtremeGrad<T>(T* x, T* y, T* g, T* dx, int[] outerShape, long[] outerStrides, long[] window, int c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rows = new GradRows<T> { X = x, Y = y, G = g, Dx = dx, Window = window, C = c };
        Walk(outerShape, outerStrides, c, 2 * window.Length, rows);
    }

    private interface IRows
    {
        /// <summary>Columns [c0, c1) of outer position q, whose window starts at x + xb.</summary>
        void Run(long q, long xb, int c0, int c1);
    }

    private struct ExtremeRows<T> : IRows where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X, O;
        public long[] Window;
        public int C;
        public bool Max;

        public readonly void Run(long q, long xb, int c0, int c1)
        {
            T* xq = X + xb, oq = O + q * C;
            long[] window = Window;
            int j = c0;
            for (; j + Vector256<T>.Count <= c1; j += Vector256<T>.Count)
            {
                var m = Vector256.Load(xq + window[0] + j);
                for (int w = 1; w < window.Length; w++)
                {
                    var v = Vector256.Load(xq + window[w] + j);
                    m = Max ? Vector256.Max(m, v) : Vector256.Min(m, v);
                }
                m.Store(oq + j);
            }
            for (; j < c1; j++)
            {
                T m = xq[window[0] + j];
                for (int w = 1; w < window.Length; w++) m = Max ? T.Max(m, xq[window[w] + j]) : T.Min(m, xq[window[w] + j]);
                oq[j] = m;
            }
        }
    }

    private struct GradRows<T> : IRows where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X, Y, G, Dx;
        public long[] Window;
        public int C;

        public readonly void Run(long q, long xb, int c0, int c1)
        {
            T* xq = X + xb, dq = Dx + xb, yq = Y + q * C, gq = G + q * C;
            long[] window = Window;
            int j = c0;
            for (; j + Vector256<T>.Count <= c1; j += Vector256<T>.Count)
            {
                var yv = Vector256.Load(yq + j);
                var count = Vector256<T>.Zero;
                for (int w = 0; w < window.Length; w++)
                {
                    count += Vector256.ConditionalSelect(Vector256.Equals(Vector256.Load(xq + window[w] + j), yv), Vector256<T>.One, Vector256<T>.Zero);
                }
                var share = Vector256.Load(gq + j) / count;
                var zero = share * Vector256<T>.Zero;
                for (int w = 0; w < window.Length; w++)
                {
                    var hit = Vector256.Equals(Vector256.Load(xq + window[w] + j), yv);
                    Vector256.ConditionalSelect(hit, share, zero).Store(dq + window[w] + j);
                }
            }
            for (; j < c1; j++)
            {
                T count = T.Zero;
                for (int w = 0; w < window.Length; w++) if (xq[window[w] + j] == yq[j]) count++;
                T share = gq[j] / count, zero = share * T.Zero;
                for (int w = 0; w < window.Length; w++) dq[window[w] + j] = xq[window[w] + j] == yq[j] ? share : zero;
            }
        }
    }

    // rows.Run over every outer position and block of columns, across cores; each thread walks its share in order,
    // stepping the window's base like an odometer (no divisions per position: pooling has tens of thousands).
    private static void Walk<TRows>(int[] outerShape, long[] outerStrides, int c, int rowsPerItem, TRows rows) where TRows : struct, IRows
    {
        long outer = 1;
        foreach (int d in outerShape) outer *= d;
        int blocks = (c + ColumnBlock - 1) / ColumnBlock;
        if (outer == 0 || c == 0) return;
        int nd = outerShape.Length;
        Parallelism.For(outer * blocks, (long)rowsPerItem * Math.Min(c, ColumnBlock), (s, e) =>
        {
            long q = s / blocks, rest = q, xb = 0;
            int block = (int)(s % blocks);
            var coordinate = new int[nd];
            for (int d = nd - 1; d >= 0; d--)
            {
                coordinate[d] = (int)(rest % outerShape[d]);
                xb += coordinate[d] * outerStrides[d];
                rest /= outerShape[d];
            }
            for (long item = s; item < e; item++)
            {
                int c0 = block * ColumnBlock;
                rows.Run(q, xb, c0, Math.Min(c, c0 + ColumnBlock));
                if (++block < blocks) continue;
                block = 0;
                q++;
                for (int d = nd - 1; d >= 0; d--)
                {
                    xb += outerStrides[d];
                    if (++coordinate[d] < outerShape[d]) break;
                    xb -= coordinate[d] * outerStrides[d];
                    coordinate[d] = 0;
                }
            }
        });
    }
}
