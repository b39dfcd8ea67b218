namespace Mlx.Core.Tests;

/// <summary>
/// float16/bfloat16 elementwise ops (computed tile by tile in float32) against the float32 result of the widened
/// inputs rounded once to the 16-bit type: bit for bit, on sizes that leave partial tiles, scalars, comparisons,
/// special values and layouts that take the whole-array path.
/// </summary>
public class HalfTileTests
{
    private static float[] Values(int n, int seed)
    {
        var r = new System.Random(seed);
        var v = Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 8 - 4)).ToArray();
        if (n > 10)
        {
            v[1] = float.NaN; v[2] = float.PositiveInfinity; v[3] = float.NegativeInfinity; v[4] = -0f; v[5] = 65504f; v[6] = 1e-6f;
        }
        return v;
    }

    private static ushort[] Bits(MxArray a) => a.DType == DType.Float16 ? a.ToArray<Half>().Select(BitConverter.HalfToUInt16Bits).ToArray() : a.ToArray<BFloat16>().Select(b => b.Bits).ToArray();

    private static void SameBits(float[] want32, MxArray got, DType dt)
    {
        var bits = Bits(got);
        var wide = Mx.AsType(got, DType.Float32).ToArray<float>();
        var rounded = Bits(Mx.AsType(Mx.Array(want32), dt));
        Assert.Equal(want32.Length, bits.Length);
        for (int i = 0; i < bits.Length; i++)
        {
            bool nanWant = float.IsNaN(want32[i]);
            var g = wide[i];
            if (nanWant) Assert.True(float.IsNaN(g), $"element {i}: want NaN, got {g}");
            else Assert.True(rounded[i] == bits[i], $"element {i}: want {want32[i]} rounded, got {g}");
        }
    }

    [Theory]
    [InlineData(DType.Float16, 1)]
    [InlineData(DType.Float16, 4095)]
    [InlineData(DType.Float16, 2 * 4096 + 7)]
    [InlineData(DType.BFloat16, 4097)]
    [InlineData(DType.BFloat16, 33)]
    [InlineData(DType.Float16, 0)]
    public void BinaryUnaryAndComparisonsEqualTheRoundedFloat32Result(DType dt, int n)
    {
        var a = Mx.AsType(Mx.Array(Values(n, 1)), dt);
        var b = Mx.AsType(Mx.Array(Values(n, 2)), dt);
        var fa = Mx.AsType(a, DType.Float32).ToArray<float>();
        var fb = Mx.AsType(b, DType.Float32).ToArray<float>();
        SameBits(fa.Zip(fb, (x, y) => x + y).ToArray(), Mx.Add(a, b), dt);
        SameBits(fa.Zip(fb, (x, y) => x * y).ToArray(), Mx.Multiply(a, b), dt);
        SameBits(fa.Zip(fb, (x, y) => x / y).ToArray(), Mx.Divide(a, b), dt);
        SameBits(fa.Zip(fb, (x, y) => float.IsNaN(x) || float.IsNaN(y) ? float.NaN : Math.Max(x, y)).ToArray(), Mx.Maximum(a, b), dt);
        // A scalar operand (stride 0) on either side.
        var two = Mx.AsType(Mx.Array(2.5f), dt);
        SameBits(fa.Select(x => x - 2.5f).ToArray(), Mx.Subtract(a, two), dt);
        SameBits(fa.Select(x => 2.5f - x).ToArray(), Mx.Subtract(two, a), dt);
        // Unary ops through the float32 kernels.
        SameBits(fa.Select(MathF.Exp).ToArray(), Mx.Exp(a), dt);
        SameBits(fa.Select(x => MathF.Sqrt(MathF.Abs(x))).ToArray(), Mx.Sqrt(Mx.Abs(a)), dt);
        SameBits(fa.Select(x => 1 / (1 + MathF.Exp(-x))).ToArray(), Mx.Sigmoid(a), dt);
        // Comparisons write bool straight into the output.
        Assert.Equal(fa.Zip(fb, (x, y) => x < y).ToArray(), Mx.Less(a, b).ToArray<bool>());
        Assert.Equal(fa.Select(x => x >= 2.5f).ToArray(), Mx.GreaterEqual(a, two).ToArray<bool>());
    }

    [Theory]
    [InlineData(DType.Float16)]
    [InlineData(DType.BFloat16)]
    public void AnInputGivenTwiceIsWidenedOnceAndOverlappingViewsAreNot(DType dt)
    {
        // x + x shares one widened tile; x[1:] * x[:-1] reads the same memory one element apart, so it must not.
        int n = 3 * 4096 + 5;
        var a = Mx.AsType(Mx.Array(Values(n, 7)), dt);
        var fa = Mx.AsType(a, DType.Float32).ToArray<float>();
        SameBits(fa.Select(x => x + x).ToArray(), Mx.Add(a, a), dt);
        SameBits(fa.Select(x => x * x).ToArray(), Mx.Multiply(a, a), dt);
        var tail = Mx.Slice(a, new[] { 1 }, new[] { n });
        var head = Mx.Slice(a, new[] { 0 }, new[] { n - 1 });
        SameBits(fa.Skip(1).Zip(fa, (x, y) => x * y).ToArray(), Mx.Multiply(tail, head), dt);
        SameBits(fa.Skip(1).Zip(fa, (x, y) => x - y).ToArray(), Mx.Subtract(tail, head), dt);
    }

    [Theory]
    [InlineData(DType.Float16)]
    [InlineData(DType.BFloat16)]
    public void ZeroDimensionalAndEmptyOperands(DType dt)
    {
        var a = Mx.AsType(Mx.Array(1.5f), dt);
        var b = Mx.AsType(Mx.Array(-0.25f), dt);
        Assert.Equal(new int[0], Mx.Add(a, b).Shape);
        Assert.Equal(1.25, Mx.AsType(Mx.Add(a, b), DType.Float64).Item<double>());
        Assert.Equal(-0.375, Mx.AsType(Mx.Multiply(a, b), DType.Float64).Item<double>());
        var empty = Mx.AsType(Mx.Zeros(new[] { 0, 3 }), dt);
        Assert.Equal(new[] { 0, 3 }, Mx.Maximum(empty, a).Shape);
        Assert.Empty(Mx.AsType(Mx.Divide(empty, empty), DType.Float32).ToArray<float>());
    }

    [Fact]
    public void UnaryOpsOfABroadcastScalarReadOnlyTheScalar()
    {
        // A broadcast scalar (all strides 0) is one element in memory: unary kernels must get it expanded (they read
        // whole tiles; a regression read past the one converted element into uninitialized scratch).
        foreach (var dt in new[] { DType.Float16, DType.BFloat16 })
        {
            var s = Mx.BroadcastTo(Mx.AsType(Mx.Array(0.75f), dt), new[] { 3, 7001 });
            var one = Mx.AsType(Mx.Array(0.75f), dt);
            foreach (var (name, f) in new (string, Func<MxArray, MxArray>)[] { ("exp", a => Mx.Exp(a)), ("sigmoid", a => Mx.Sigmoid(a)), ("gelu", Mlx.Nn.Nn.Gelu), ("silu", Mlx.Nn.Nn.Silu) })
            {
                var want = Bits(f(one))[0];
                Assert.All(Bits(f(s)), b => Assert.True(b == want, $"{name} {dt}: 0x{b:X4} want 0x{want:X4}"));
            }
        }
    }

    [Fact]
    public void LayoutsOutsideTheTiledPathStillWork()
    {
        // A transposed operand and a row broadcast take the whole-array conversion.
        var a = Mx.AsType(Mx.Array(Values(60 * 70, 3), new[] { 60, 70 }), DType.Float16);
        var b = Mx.AsType(Mx.Array(Values(70 * 60, 4), new[] { 70, 60 }), DType.Float16);
        var row = Mx.AsType(Mx.Array(Values(70, 5)), DType.Float16);
        var fa = Mx.AsType(a, DType.Float32).ToArray<float>();
        var fbt = Mx.Contiguous(Mx.Transpose(Mx.AsType(b, DType.Float32))).ToArray<float>();
        var frow = Mx.AsType(row, DType.Float32).ToArray<float>();
        SameBits(fa.Zip(fbt, (x, y) => x + y).ToArray(), Mx.Add(a, Mx.Transpose(b)), DType.Float16);
        SameBits(fa.Select((x, i) => x * frow[i % 70]).ToArray(), Mx.Multiply(a, row), DType.Float16);
    }
}
