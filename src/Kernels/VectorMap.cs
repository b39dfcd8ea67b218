using System.Runtime.Intrinsics;

namespace Mlx.Kernels;

/// <summary>A float32 function with a vector form (8 lanes) and a scalar form for tails and machines without vectors.</summary>
public interface IFloatMap
{
    static abstract Vector256<float> Apply(Vector256<float> x);

    static abstract float Apply(float x);
}

/// <summary>
/// A map that also has a 16-lane form. On CPUs with AVX-512, 512-bit code of the same formula ran 1.6-1.7x faster
/// here (gelu, silu), even where the hardware splits each 512-bit operation in two: half the instructions to issue.
/// </summary>
public interface IWideFloatMap : IFloatMap
{
    static abstract Vector512<float> Apply(Vector512<float> x);
}

/// <summary>The one loop every <see cref="IFloatMap"/> kernel runs: 8 lanes at a time, then the tail element by element.</summary>
public static class VectorMap
{
    public static void Run<TF>(ReadOnlySpan<float> x, Span<float> o) where TF : struct, IFloatMap
    {
        if (o.Length < x.Length) throw new ArgumentException("Destination too short.", nameof(o));
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float xs = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
            ref float os = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(o);
            for (; i + 8 <= x.Length; i += 8)
            {
                TF.Apply(Vector256.LoadUnsafe(ref xs, (nuint)i)).StoreUnsafe(ref os, (nuint)i);
            }
        }
        for (; i < x.Length; i++)
        {
            o[i] = TF.Apply(x[i]);
        }
    }

    /// <summary><see cref="Run{TF}"/> 16 lanes at a time where Vector512 is accelerated, the rest 8 at a time.</summary>
    public static void RunWide<TF>(ReadOnlySpan<float> x, Span<float> o) where TF : struct, IWideFloatMap
    {
        if (o.Length < x.Length) throw new ArgumentException("Destination too short.", nameof(o));
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            ref float xs = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
            ref float os = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(o);
            for (; i + 16 <= x.Length; i += 16)
            {
                TF.Apply(Vector512.LoadUnsafe(ref xs, (nuint)i)).StoreUnsafe(ref os, (nuint)i);
            }
        }
        Run<TF>(x[i..], o[i..]);
    }
}
