using System.Numerics;
using System.Numerics.Tensors;

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
                // One long reduction: partial results per thread, then combine.
                int threads = (int)Math.Clamp(K / (1 << 18), 1, Parallelism.MaxThreads);
                var partial = new T[threads];
                long chunk = (K + threads - 1) / threads;
                Parallelism.For(threads, 1 << 20, (s, e) =>
                {
                    for (long t = s; t < e; t++)
                    {
                        long start = t * chunk, end = Math.Min(K, start + chunk);
                        partial[t] = end > start ? TOp.Reduce(new ReadOnlySpan<T>((T*)px + start, (int)(end - start))) : TOp.Identity;
                    }
                });
                T acc = partial[0];
                for (int t = 1; t < threads; t++)
                {
                    acc = TOp.Combine(acc, partial[t]);
                }
                *o = acc;
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
}
