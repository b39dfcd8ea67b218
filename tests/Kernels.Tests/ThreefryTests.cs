using System.Buffers.Binary;
using Mlx.Kernels.Random;

namespace Mlx.Kernels.Tests;

// Every expected number below is quoted from an independent source, named in the comment above it:
//  - JAX: tests/random_test.py, testThreefry2x32 (google/jax), which quotes Random123's known-answer tests
//    (DEShawResearch Random123-Boost libs/random/test/test_threefry.cpp#L30-L32).
//  - MLX: tests/random_tests.cpp (ml-explore/mlx, C++ doctest suite), whose bits were generated with JAX's
//    jax.prng.threefry_prng_impl.random_bits, and tests/ops_tests.cpp / python/tests/test_ops.py /
//    python/tests/test_random.py.
public class ThreefryTests
{
    // ---- Threefry-2x32 (20 rounds) known answers -------------------------------------------------------------

    // JAX tests/random_test.py testThreefry2x32 (Random123 KAT, threefry2x32_20):
    //   key (0,0), count (0,0) -> (0x6b200159, 0x99ba4efe)
    //   key (u32max,u32max), count (u32max,u32max) -> (0x1cb996fc, 0xbb002be7)
    //   key (0x13198a2e,0x03707344), count (0x243f6a88,0x85a308d3) -> (0xc4923a9c, 0x483df7a0)
    [Theory]
    [InlineData(0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x6b200159u, 0x99ba4efeu)]
    [InlineData(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x1cb996fcu, 0xbb002be7u)]
    [InlineData(0x13198a2eu, 0x03707344u, 0x243f6a88u, 0x85a308d3u, 0xc4923a9cu, 0x483df7a0u)]
    public void Threefry2x32_Random123KnownAnswers(uint k0, uint k1, uint x0, uint x1, uint y0, uint y1)
    {
        Assert.Equal((y0, y1), Threefry.Threefry2x32(k0, k1, x0, x1));
    }

    // ---- key -------------------------------------------------------------------------------------------------

    // MLX tests/random_tests.cpp "test random key": key(0) = {0,0}, key(1) = {0,1}, key(1<<32) = {1,0},
    // key((1<<32)+1) = {1,1}.
    [Theory]
    [InlineData(0UL, 0u, 0u)]
    [InlineData(1UL, 0u, 1u)]
    [InlineData(1UL << 32, 1u, 0u)]
    [InlineData((1UL << 32) + 1, 1u, 1u)]
    public void Key_MatchesMlx(ulong seed, uint k0, uint k1)
    {
        Assert.Equal((k0, k1), Threefry.Key(seed));
    }

    // ---- bits ------------------------------------------------------------------------------------------------

    // MLX tests/random_tests.cpp "test random bits": bits({}, key(0)) = 1797259609, width 2 -> 345, width 1 -> 89;
    // bits({}, key(1)) = 507451445, width 2 -> 6197, width 1 -> 53. (The brief also quotes 1797259609 for key(0).)
    [Theory]
    [InlineData(0UL, 4, 1797259609u)]
    [InlineData(0UL, 2, 345u)]
    [InlineData(0UL, 1, 89u)]
    [InlineData(1UL, 4, 507451445u)]
    [InlineData(1UL, 2, 6197u)]
    [InlineData(1UL, 1, 53u)]
    public void Bits_ScalarShape_MatchesMlx(ulong seed, int width, uint expected)
    {
        var (k0, k1) = Threefry.Key(seed);
        Span<byte> bytes = stackalloc byte[width];
        Threefry.FillBits(k0, k1, bytes, width);
        uint value = width switch
        {
            4 => BinaryPrimitives.ReadUInt32LittleEndian(bytes),
            2 => BinaryPrimitives.ReadUInt16LittleEndian(bytes),
            _ => bytes[0],
        };
        Assert.Equal(expected, value);
    }

    // MLX tests/random_tests.cpp "test random bits": bits({3, 1}, key(0)) = {4146024105, 1351547692, 2718843009}.
    [Fact]
    public void Bits_Shape3x1_MatchesMlx()
    {
        var (k0, k1) = Threefry.Key(0);
        var x = new uint[3];
        Threefry.FillBits(k0, k1, x);
        Assert.Equal(new uint[] { 4146024105u, 1351547692u, 2718843009u }, x);
    }

    // MLX tests/random_tests.cpp "test random bits": bits({5|6|7|8}, 2, key(0)) (uint16). These exercise the odd
    // word count, the truncated last word and the (j, j + H + odd) counter pairing.
    [Theory]
    [InlineData(5, new ushort[] { 20137, 63263, 64300, 20622, 16513 })]
    [InlineData(6, new ushort[] { 20137, 63263, 64300, 20622, 16513, 41486 })]
    [InlineData(7, new ushort[] { 20137, 63263, 1497, 14756, 16513, 41486, 44591 })]
    [InlineData(8, new ushort[] { 20137, 63263, 1497, 14756, 16513, 41486, 44591, 19423 })]
    public void Bits_Width2_MatchesMlx(int n, ushort[] expected)
    {
        var (k0, k1) = Threefry.Key(0);
        var typed = new ushort[n];
        Threefry.FillBits(k0, k1, typed);
        Assert.Equal(expected, typed);

        var bytes = new byte[2 * n];
        Threefry.FillBits(k0, k1, bytes, 2);
        for (int i = 0; i < n; i++)
            Assert.Equal(expected[i], BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i)));
    }

    [Fact]
    public void Bits_EmptyOutput_IsNoOp()
    {
        // MLX tests/random_tests.cpp: bits({0}, key) is an empty array.
        Threefry.FillBits(0, 0, Span<byte>.Empty, 4);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(-1)]
    [InlineData(8)]
    public void Bits_InvalidWidth_Throws(int width)
    {
        // MLX tests/random_tests.cpp: bits({}, 0|5|-1, key) throw ("Bit width must be in {1, 2, 4}").
        Assert.Throws<ArgumentOutOfRangeException>(() => Threefry.FillBits(0, 0, new byte[8], width));
    }

    // ---- batched bits (vmap over keys) -----------------------------------------------------------------------

    // MLX tests/random_tests.cpp "test random bits", vmap(fn)(key) with key = {{0,0},{1,1}}, shape {3}:
    //   {4146024105, 1351547692, 2718843009, 3725146706, 1802982961, 1349634643}
    // vmap(fn, 1)(key): the keys are the columns {0,1} and {0,1}:
    //   {2441914641, 1110694964, 3819641963} twice.
    [Fact]
    public void BitsBatch_VmapOverKeys_MatchesMlx()
    {
        var outBytes = new byte[2 * 3 * 4];
        Threefry.FillBitsBatch(new uint[] { 0, 0, 1, 1 }, outBytes, 4);
        Assert.Equal(new uint[] { 4146024105u, 1351547692u, 2718843009u, 3725146706u, 1802982961u, 1349634643u }, ToUInt32(outBytes));

        Threefry.FillBitsBatch(new uint[] { 0, 1, 0, 1 }, outBytes, 4);
        Assert.Equal(new uint[] { 2441914641u, 1110694964u, 3819641963u, 2441914641u, 1110694964u, 3819641963u }, ToUInt32(outBytes));
    }

    // MLX tests/random_tests.cpp "Vmap twice": keys {0,0},{1,1},...,{5,5} (shape {3,2,2}), shape {2}:
    //   vmap(vmap(fn)) -> {928981903, 3453687069, 3606183818, 460005496, 2799733733, 856293553,
    //                      4081856343, 3445925136, 2775548010, 1430281703, 305173070, 2615843348}
    //   vmap(vmap(fn, 1), 0) (keys are the columns of each 2x2 block: {0,1},{0,1},{2,3},{2,3},{4,5},{4,5}) ->
    //                     {1948878966, 4237131848, 1948878966, 4237131848, 2531170506, 1858648356,
    //                      2531170506, 1858648356, 740561898, 4234094099, 740561898, 4234094099}
    [Fact]
    public void BitsBatch_VmapTwice_MatchesMlx()
    {
        var outBytes = new byte[6 * 2 * 4];
        Threefry.FillBitsBatch(new uint[] { 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5 }, outBytes, 4);
        Assert.Equal(new uint[]
        {
            928981903u, 3453687069u, 3606183818u, 460005496u, 2799733733u, 856293553u,
            4081856343u, 3445925136u, 2775548010u, 1430281703u, 305173070u, 2615843348u,
        }, ToUInt32(outBytes));

        Threefry.FillBitsBatch(new uint[] { 0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5 }, outBytes, 4);
        Assert.Equal(new uint[]
        {
            1948878966u, 4237131848u, 1948878966u, 4237131848u, 2531170506u, 1858648356u,
            2531170506u, 1858648356u, 740561898u, 4234094099u, 740561898u, 4234094099u,
        }, ToUInt32(outBytes));
    }

    // MLX tests/random_tests.cpp "Vmap smaller type": vmap of bits({5}, 2, k) over keys {0,0},{1,1} equals
    // bits({5}, 2, key_i) per key (no numbers quoted there; the property is checked).
    [Fact]
    public void BitsBatch_Width2_EqualsPerKeyBits()
    {
        var batch = new byte[2 * 5 * 2];
        Threefry.FillBitsBatch(new uint[] { 0, 0, 1, 1 }, batch, 2);
        var single = new byte[5 * 2];
        Threefry.FillBits(0, 0, single, 2);
        Assert.Equal(single, batch.AsSpan(0, 10).ToArray());
        Threefry.FillBits(1, 1, single, 2);
        Assert.Equal(single, batch.AsSpan(10, 10).ToArray());
    }

    // ---- split -----------------------------------------------------------------------------------------------

    // MLX tests/random_tests.cpp "test random split": split(key(0)) -> key {4146024105, 967050713},
    // subkey {2718843009, 1272950319}; split(key(0), 3) -> {2467461003, 428148500, 3186719485, 3840466878,
    // 2562233961, 1946702221}.
    [Fact]
    public void Split_MatchesMlx()
    {
        var (k0, k1) = Threefry.Key(0);
        var (first, second) = Threefry.Split(k0, k1);
        Assert.Equal((4146024105u, 967050713u), first);
        Assert.Equal((2718843009u, 1272950319u), second);

        var two = new uint[4];
        Threefry.Split(k0, k1, two);
        Assert.Equal(new uint[] { 4146024105u, 967050713u, 2718843009u, 1272950319u }, two);

        var three = new uint[6];
        Threefry.Split(k0, k1, three);
        Assert.Equal(new uint[] { 2467461003u, 428148500u, 3186719485u, 3840466878u, 2562233961u, 1946702221u }, three);
    }

    // ---- uniform ---------------------------------------------------------------------------------------------

    // MLX tests/random_tests.cpp "test random uniform": expected = to_float(n) = float(n) / float(UINT32_MAX) for
    // uniform({}, key(0)) with n = 1797259609, uniform({}, key(1)) with n = 507451445, and uniform({3,1}, key(0))
    // with n = {4146024105, 1351547692, 2718843009}. Compared bit for bit (CHECK_EQ / array_equal in MLX).
    [Theory]
    [InlineData(0UL, new uint[] { 1797259609u })]
    [InlineData(1UL, new uint[] { 507451445u })]
    [InlineData(0UL, new uint[] { 4146024105u, 1351547692u, 2718843009u })]
    public void Uniform_MatchesMlx(ulong seed, uint[] n)
    {
        var (k0, k1) = Threefry.Key(seed);
        var x = new float[n.Length];
        Threefry.Uniform(k0, k1, x);
        for (int i = 0; i < n.Length; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits((float)n[i] / (float)uint.MaxValue), BitConverter.SingleToInt32Bits(x[i]));
    }

    // MLX tests/random_tests.cpp "Check bounds are respected": uniform(-1, 1, {100}, key(128291)) is in [-1, 1).
    [Fact]
    public void Uniform_RespectsBounds()
    {
        var (k0, k1) = Threefry.Key(128291);
        var x = new float[100];
        Threefry.Uniform(k0, k1, x, -1f, 1f);
        Assert.All(x, v => Assert.True(v >= -1f && v < 1f));

        // The clamp to nextafter(1, 0) (mlx/random.cpp uniform): all-ones bits must stay below high.
        Assert.True(Threefry.Uniform(uint.MaxValue, 0f, 1f) < 1f);
    }

    // ---- normal / erfinv / erf -------------------------------------------------------------------------------

    // MLX tests/random_tests.cpp "test random normal": normal({100}, key(128291)) is finite with |mean| < 0.1.
    [Fact]
    public void Normal_FiniteAndCentred()
    {
        var (k0, k1) = Threefry.Key(128291);
        var x = new float[100];
        Threefry.Normal(k0, k1, x);
        Assert.All(x, v => Assert.True(float.IsFinite(v)));
        Assert.True(MathF.Abs(x.Average()) < 0.1f);
    }

    // MLX python/tests/test_random.py test_normal_and_laplace: normal(loc, scale, key) ~= scale * normal(key) + loc
    // (mx.allclose: rtol 1e-5, atol 1e-8).
    [Fact]
    public void Normal_LocScale_CloseToAffineOfStandard()
    {
        var (k0, k1) = Threefry.Key(0);
        var a = new float[6];
        var b = new float[6];
        Threefry.Normal(k0, k1, a, loc: 1f, scale: 2f);
        Threefry.Normal(k0, k1, b);
        for (int i = 0; i < 6; i++)
        {
            float expected = 2f * b[i] + 1f;
            Assert.True(MathF.Abs(a[i] - expected) <= 1e-8f + 1e-5f * MathF.Abs(expected), $"{a[i]} vs {expected}");
        }
    }

    // MLX tests/ops_tests.cpp "test error functions": erfinv(0) = 0, erfinv(1) = inf, erfinv(-1) = -inf,
    // erfinv(2) and erfinv(-2) are NaN; erf(0) = 0, erf(inf) = 1, erf(-inf) = -1 (exact CHECK_EQ).
    [Fact]
    public void ErfInv_And_Erf_SpecialValues()
    {
        Assert.Equal(0f, Threefry.ErfInv(0f));
        Assert.Equal(float.PositiveInfinity, Threefry.ErfInv(1f));
        Assert.Equal(float.NegativeInfinity, Threefry.ErfInv(-1f));
        Assert.True(float.IsNaN(Threefry.ErfInv(2f)));
        Assert.True(float.IsNaN(Threefry.ErfInv(-2f)));

        Assert.Equal(0f, Threefry.Erf(0f));
        Assert.Equal(1f, Threefry.Erf(float.PositiveInfinity));
        Assert.Equal(-1f, Threefry.Erf(float.NegativeInfinity));
    }

    // MLX python/tests/test_ops.py test_erfinv (scipy reference, np.allclose rtol 1e-5 atol 1e-8):
    //   erfinv([-5, -1, 0.5, 0, 0.5, 1, 5]) = [nan, -inf, 0.47693628, 0, 0.47693628, inf, nan];
    //   erfinv(0.9999999403953552) = 3.8325066566467285 (mx.allclose).
    [Theory]
    [InlineData(-5.0f, float.NaN)]
    [InlineData(-1.0f, float.NegativeInfinity)]
    [InlineData(0.5f, 0.47693628f)]
    [InlineData(0.0f, 0.0f)]
    [InlineData(1.0f, float.PositiveInfinity)]
    [InlineData(5.0f, float.NaN)]
    [InlineData(0.9999999403953552f, 3.8325066566467285f)]
    public void ErfInv_CloseToScipy(float x, float expected)
    {
        float y = Threefry.ErfInv(x);
        if (float.IsNaN(expected)) Assert.True(float.IsNaN(y));
        else if (float.IsInfinity(expected)) Assert.Equal(expected, y);
        else Assert.True(MathF.Abs(y - expected) <= 1e-8f + 1e-5f * MathF.Abs(expected), $"{y} vs {expected}");
    }

    // MLX tests/ops_tests.cpp "test error functions": erf of {0.9, 0.5, 0.1, -0.1, -0.5, -0.9} against scipy,
    // doctest::Approx (relative 100 * FLT_EPSILON).
    [Theory]
    [InlineData(0.9f, 0.7969082124228322)]
    [InlineData(0.5f, 0.5204998778130465)]
    [InlineData(0.1f, 0.1124629160182849)]
    [InlineData(-0.1f, -0.1124629160182849)]
    [InlineData(-0.5f, -0.5204998778130465)]
    [InlineData(-0.9f, -0.7969082124228322)]
    public void Erf_CloseToScipy(float x, double expected)
    {
        double y = Threefry.Erf(x);
        double eps = 100 * 1.192092896e-07;
        Assert.True(Math.Abs(y - expected) <= eps * (1 + Math.Max(Math.Abs(y), Math.Abs(expected))), $"{y} vs {expected}");
    }

    private static uint[] ToUInt32(byte[] bytes)
    {
        var r = new uint[bytes.Length / 4];
        for (int i = 0; i < r.Length; i++)
            r[i] = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4 * i));
        return r;
    }
}
