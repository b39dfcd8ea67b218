using System.Runtime.Intrinsics;

namespace Mlx.Kernels;

/// <summary>One comparison on vectors: all-ones lanes where it holds (IEEE: false for NaN, except not-equal).</summary>
public interface IVectorComparison
{
    static abstract Vector256<T> Compare<T>(Vector256<T> a, Vector256<T> b);
}

public struct EqualVectors : IVectorComparison
{
    public static Vector256<T> Compare<T>(Vector256<T> a, Vector256<T> b) => Vector256.Equals(a, b);
}

public struct NotEqualVectors : IVectorComparison
{
    public static Vector256<T> Compare<T>(Vector256<T> a, Vector256<T> b) => ~Vector256.Equals(a, b);
}

public struct LessVectors : IVectorComparison
{
    public static Vector256<T> Compare<T>(Vector256<T> a, Vector256<T> b) => Vector256.LessThan(a, b);
}

public struct LessEqualVectors : IVectorComparison
{
    public static Vector256<T> Compare<T>(Vector256<T> a, Vector256<T> b) => Vector256.LessThanOrEqual(a, b);
}

public struct GreaterVectors : IVectorComparison
{
    public static Vector256<T> Compare<T>(Vector256<T> a, Vector256<T> b) => Vector256.GreaterThan(a, b);
}

public struct GreaterEqualVectors : IVectorComparison
{
    public static Vector256<T> Compare<T>(Vector256<T> a, Vector256<T> b) => Vector256.GreaterThanOrEqual(a, b);
}

/// <summary>
/// Comparisons of 4- and 8-byte numbers into bools (bytes 0 or 1), 32 at a time: the compare masks of four (or
/// eight) vectors are narrowed to one vector of bytes, against a scalar loop's byte per compare-and-branch
/// (GreaterEqual of 128K float32: 33 us before). Other types, and the tail, take the operator's scalar rule.
/// </summary>
public static unsafe class Comparison
{
    /// <summary>o[i] = a[i] op b[i]; a scalar operand (aScalar / bScalar) is read once and compared with every element.</summary>
    public static void Run<T, TOp, TCmp>(ReadOnlySpan<T> a, bool aScalar, ReadOnlySpan<T> b, bool bScalar, Span<bool> o)
        where T : unmanaged where TOp : IBinaryOp<T, bool> where TCmp : IVectorComparison
    {
        int n = o.Length, i = 0;
        fixed (T* pa = a)
        fixed (T* pb = b)
        fixed (bool* po = o)
        {
            if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported && (sizeof(T) == 4 || sizeof(T) == 8))
            {
                i = sizeof(T) == 4 ? Four<T, TCmp>(pa, aScalar, pb, bScalar, (byte*)po, n) : Eight<T, TCmp>(pa, aScalar, pb, bScalar, (byte*)po, n);
            }
            for (; i < n; i++)
            {
                po[i] = TOp.Apply(aScalar ? pa[0] : pa[i], bScalar ? pb[0] : pb[i]);
            }
        }
    }

    private static Vector256<T> Load<T>(T* p, bool scalar, int i) where T : unmanaged =>
        scalar ? Vector256.Create(*p) : Vector256.Load(p + i);

    private static int Four<T, TCmp>(T* a, bool aScalar, T* b, bool bScalar, byte* o, int n) where T : unmanaged where TCmp : IVectorComparison
    {
        int w = Vector256<T>.Count, i = 0;
        var one = Vector256.Create((byte)1);
        for (; i + 4 * w <= n; i += 4 * w)
        {
            var m0 = TCmp.Compare(Load(a, aScalar, i), Load(b, bScalar, i)).AsInt32();
            var m1 = TCmp.Compare(Load(a, aScalar, i + w), Load(b, bScalar, i + w)).AsInt32();
            var m2 = TCmp.Compare(Load(a, aScalar, i + 2 * w), Load(b, bScalar, i + 2 * w)).AsInt32();
            var m3 = TCmp.Compare(Load(a, aScalar, i + 3 * w), Load(b, bScalar, i + 3 * w)).AsInt32();
            var bytes = Vector256.Narrow(Vector256.Narrow(m0, m1), Vector256.Narrow(m2, m3)).AsByte();
            (bytes & one).Store(o + i);
        }
        // Then a vector at a time (rows of 8 or 16 channels never reach four): its 8 bytes are the first of the narrowing.
        for (; i + w <= n; i += w)
        {
            var m = TCmp.Compare(Load(a, aScalar, i), Load(b, bScalar, i)).AsInt32();
            var s = Vector256.Narrow(m, m);
            *(ulong*)(o + i) = (Vector256.Narrow(s, s).AsByte() & one).AsUInt64().ToScalar();
        }
        return i;
    }

    private static int Eight<T, TCmp>(T* a, bool aScalar, T* b, bool bScalar, byte* o, int n) where T : unmanaged where TCmp : IVectorComparison
    {
        int w = Vector256<T>.Count, i = 0;
        var one = Vector256.Create((byte)1);
        for (; i + 8 * w <= n; i += 8 * w)
        {
            var q0 = Vector256.Narrow(TCmp.Compare(Load(a, aScalar, i), Load(b, bScalar, i)).AsInt64(), TCmp.Compare(Load(a, aScalar, i + w), Load(b, bScalar, i + w)).AsInt64());
            var q1 = Vector256.Narrow(TCmp.Compare(Load(a, aScalar, i + 2 * w), Load(b, bScalar, i + 2 * w)).AsInt64(), TCmp.Compare(Load(a, aScalar, i + 3 * w), Load(b, bScalar, i + 3 * w)).AsInt64());
            var q2 = Vector256.Narrow(TCmp.Compare(Load(a, aScalar, i + 4 * w), Load(b, bScalar, i + 4 * w)).AsInt64(), TCmp.Compare(Load(a, aScalar, i + 5 * w), Load(b, bScalar, i + 5 * w)).AsInt64());
            var q3 = Vector256.Narrow(TCmp.Compare(Load(a, aScalar, i + 6 * w), Load(b, bScalar, i + 6 * w)).AsInt64(), TCmp.Compare(Load(a, aScalar, i + 7 * w), Load(b, bScalar, i + 7 * w)).AsInt64());
            var bytes = Vector256.Narrow(Vector256.Narrow(q0, q1), Vector256.Narrow(q2, q3)).AsByte();
            (bytes & one).Store(o + i);
        }
        for (; i + w <= n; i += w)
        {
            var m = TCmp.Compare(Load(a, aScalar, i), Load(b, bScalar, i)).AsInt64();
            var d = Vector256.Narrow(m, m);
            var s = Vector256.Narrow(d, d);
            *(uint*)(o + i) = (Vector256.Narrow(s, s).AsByte() & one).AsUInt32().ToScalar();
        }
        return i;
    }
}
