using System.Numerics;

namespace Mlx.Kernels.Tests;

/// <summary>The vectorized comparisons against C#'s own operators, element by element, for every form and tail.</summary>
public class ComparisonTests
{
    public static readonly int[] Sizes = { 0, 1, 7, 31, 32, 33, 63, 64, 65, 100, 1001 };

    private static T[] Values<T>(int n, int seed, Func<double, T> make, T[] specials)
    {
        var rng = new System.Random(seed);
        var x = new T[n];
        for (int i = 0; i < n; i++)
        {
            // Few distinct values, so equal pairs are common; specials (NaN, zeros, infinities, extremes) sprinkled in.
            x[i] = rng.Next(5) == 0 && specials.Length > 0 ? specials[rng.Next(specials.Length)] : make(rng.Next(-3, 4));
        }
        return x;
    }

    private static void Check<T, TOp>(T[] a, T[] b, Func<T, T, bool> rule, string what) where T : unmanaged where TOp : IBinaryOp<T, bool>
    {
        int n = a.Length;
        var vv = new bool[n];
        var vs = new bool[n];
        var sv = new bool[n];
        TOp.VV(a, b, vv);
        if (n > 0)
        {
            TOp.VS(a, b[0], vs);
            TOp.SV(a[0], b, sv);
        }
        for (int i = 0; i < n; i++)
        {
            Assert.True(rule(a[i], b[i]) == vv[i], $"{what} VV at {i} of {n}: {a[i]} vs {b[i]} gave {vv[i]}");
            Assert.True(rule(a[i], b[0]) == vs[i], $"{what} VS at {i} of {n}: {a[i]} vs {b[0]} gave {vs[i]}");
            Assert.True(rule(a[0], b[i]) == sv[i], $"{what} SV at {i} of {n}: {a[0]} vs {b[i]} gave {sv[i]}");
            Assert.True(System.Runtime.CompilerServices.Unsafe.As<bool, byte>(ref vv[i]) <= 1, "bools are 0 or 1");
        }
    }

    private static void AllOps<T>(T[] a, T[] b, string type) where T : unmanaged, IComparisonOperators<T, T, bool>
    {
        Check<T, EqualOp<T>>(a, b, (x, y) => x == y, type + " ==");
        Check<T, NotEqualOp<T>>(a, b, (x, y) => x != y, type + " !=");
        Check<T, LessOp<T>>(a, b, (x, y) => x < y, type + " <");
        Check<T, LessEqualOp<T>>(a, b, (x, y) => x <= y, type + " <=");
        Check<T, GreaterOp<T>>(a, b, (x, y) => x > y, type + " >");
        Check<T, GreaterEqualOp<T>>(a, b, (x, y) => x >= y, type + " >=");
    }

    public static IEnumerable<object[]> SizeData() => Sizes.Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(SizeData))]
    public void EveryTypeAndFormMatchesTheOperators(int n)
    {
        var fs = new[] { float.NaN, 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon };
        AllOps(Values(n, 1, v => (float)v, fs), Values(n, 2, v => (float)v, fs), "float32");
        var ds = new[] { double.NaN, 0.0, -0.0, double.PositiveInfinity, double.NegativeInfinity, double.Epsilon };
        AllOps(Values(n, 3, v => v, ds), Values(n, 4, v => v, ds), "float64");
        AllOps(Values(n, 5, v => (int)v, new[] { int.MinValue, int.MaxValue }), Values(n, 6, v => (int)v, new[] { int.MinValue, int.MaxValue }), "int32");
        AllOps(Values(n, 7, v => (long)v, new[] { long.MinValue, long.MaxValue }), Values(n, 8, v => (long)v, new[] { long.MinValue, long.MaxValue }), "int64");
        AllOps(Values(n, 9, v => unchecked((uint)v), new[] { 0u, uint.MaxValue, 1u << 31 }), Values(n, 10, v => unchecked((uint)v), new[] { 0u, uint.MaxValue, 1u << 31 }), "uint32");
        AllOps(Values(n, 11, v => unchecked((ulong)v), new[] { 0ul, ulong.MaxValue, 1ul << 63 }), Values(n, 12, v => unchecked((ulong)v), new[] { 0ul, ulong.MaxValue, 1ul << 63 }), "uint64");
        AllOps(Values(n, 13, v => (short)v, new[] { short.MinValue, short.MaxValue }), Values(n, 14, v => (short)v, new[] { short.MinValue }), "int16 (scalar rule)");
    }
}
