using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Mlx.Kernels;

/// <summary>
/// Layer and RMS normalization of contiguous rows in one kernel each (as mlx.core.fast's): composed of separate ops
/// they take six to eight passes over memory and as many intermediate arrays; here a row is read from memory once
/// and every later pass finds it in cache. The variance is taken of the deviations from the mean (corrected by
/// their own mean), so a large mean does not cancel it away.
/// </summary>
public static unsafe class Normalization
{
    /// <summary>
    /// y[r, :] = (x[r, :] - mean) / sqrt(var + eps) * w + b over rows of length n; <paramref name="w"/> and
    /// <paramref name="b"/> (length n) may be null. x and y may be the same memory.
    /// </summary>
    public static void LayerNormRows<T>(T* x, T* w, T* b, T* y, long rows, int n, T eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (rows == 0 || n == 0) return;
        nint px = (nint)x, pw = (nint)w, pb = (nint)b, py = (nint)y;
        T count = T.CreateTruncating(n);
        Parallelism.For(rows, (long)n * 6, (s, e) =>
        {
            var weight = pw == 0 ? default : new ReadOnlySpan<T>((T*)pw, n);
            var bias = pb == 0 ? default : new ReadOnlySpan<T>((T*)pb, n);
            for (long r = s; r < e; r++)
            {
                if (typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated)
                {
                    LayerNormRow((float*)px + r * n, (float*)pw, (float*)pb, (float*)py + r * n, n, float.CreateTruncating(eps));
                    continue;
                }
                var src = new ReadOnlySpan<T>((T*)px + r * n, n);
                var dst = new Span<T>((T*)py + r * n, n);
                T mean = TensorPrimitives.Sum(src) / count;
                TensorPrimitives.Subtract(src, mean, dst);
                // The rounded mean is off by up to an ulp of the row's sum: the deviations' own mean corrects it.
                T shift = TensorPrimitives.Sum<T>(dst) / count;
                T inv = T.One / T.Sqrt(T.Max(TensorPrimitives.SumOfSquares<T>(dst) / count - shift * shift, T.Zero) + eps);
                TensorPrimitives.Subtract(dst, shift, dst);
                TensorPrimitives.Multiply(dst, inv, dst);
                if (pw != 0 && pb != 0) TensorPrimitives.FusedMultiplyAdd(dst, weight, bias, dst);
                else if (pw != 0) TensorPrimitives.Multiply(dst, weight, dst);
                else if (pb != 0) TensorPrimitives.Add(dst, bias, dst);
            }
        });
    }

    /// <summary>
    /// One float row in three passes (the span form takes seven): the sum; the deviations' sum and sum of squares,
    /// read, not stored; then y = (x - mean) inv w + b.
    /// </summary>
    private static void LayerNormRow(float* x, float* w, float* b, float* y, int n, float eps)
    {
        var sum = TensorPrimitives.Sum(new ReadOnlySpan<float>(x, n));
        float mean = sum / n;
        var vm = Vector256.Create(mean);
        // Two independent accumulator pairs: one pair's add latency would otherwise bound the loop.
        Vector256<float> s1 = default, s2 = default, t1 = default, t2 = default;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            var d = Vector256.Load(x + i) - vm;
            var e = Vector256.Load(x + i + 8) - vm;
            s1 += d;
            t1 += e;
            s2 = Vector256.FusedMultiplyAdd(d, d, s2);
            t2 = Vector256.FusedMultiplyAdd(e, e, t2);
        }
        for (; i + 8 <= n; i += 8)
        {
            var d = Vector256.Load(x + i) - vm;
            s1 += d;
            s2 = Vector256.FusedMultiplyAdd(d, d, s2);
        }
        float shift = Vector256.Sum(s1 + t1), squares = Vector256.Sum(s2 + t2);
        for (; i < n; i++)
        {
            float d = x[i] - mean;
            shift += d;
            squares += d * d;
        }
        shift /= n;
        // The rounded mean is off by up to an ulp of the row's sum: the deviations' own mean corrects it.
        float inv = 1f / MathF.Sqrt(MathF.Max(squares / n - shift * shift, 0f) + eps);
        // x - mean is exact for x near the mean; the shift is subtracted after it (mean + shift would round again).
        var vinv = Vector256.Create(inv);
        var vshift = Vector256.Create(shift);
        i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var t = (Vector256.Load(x + i) - vm - vshift) * vinv;
            if (w != null) t *= Vector256.Load(w + i);
            if (b != null) t += Vector256.Load(b + i);
            t.Store(y + i);
        }
        for (; i < n; i++)
        {
            float t = (x[i] - mean - shift) * inv;
            if (w != null) t *= w[i];
            if (b != null) t += b[i];
            y[i] = t;
        }
    }

    /// <summary>y[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * w over rows of length n; w may be null.</summary>
    public static void RmsNormRows<T>(T* x, T* w, T* y, long rows, int n, T eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (rows == 0 || n == 0) return;
        nint px = (nint)x, pw = (nint)w, py = (nint)y;
        T count = T.CreateTruncating(n);
        Parallelism.For(rows, (long)n * 4, (s, e) =>
        {
            var weight = pw == 0 ? default : new ReadOnlySpan<T>((T*)pw, n);
            for (long r = s; r < e; r++)
            {
                var src = new ReadOnlySpan<T>((T*)px + r * n, n);
                var dst = new Span<T>((T*)py + r * n, n);
                T inv = T.One / T.Sqrt(TensorPrimitives.SumOfSquares(src) / count + eps);
                TensorPrimitives.Multiply(src, inv, dst);
                if (pw != 0) TensorPrimitives.Multiply(dst, weight, dst);
            }
        });
    }
}
