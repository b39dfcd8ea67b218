namespace Mlx.Core.Tests;

/// <summary>
/// Quantization against MLX's definitions: codes read back bit by bit from the little-endian stream of uint32 words,
/// MLX's affine rule (scale spans the group's range, the larger-magnitude endpoint is exact), products against the
/// double-precision product with the dequantized weight, gradients against finite differences.
/// </summary>
public class QuantizedTests
{
    public static IEnumerable<object[]> Configs() =>
        from gs in new[] { 32, 64, 128 } from bits in new[] { 2, 3, 4, 5, 6, 8 } select new object[] { gs, bits };

    // Code j of a row: bits [j * bits, (j + 1) * bits) of the row's words, least significant first.
    private static int[] ReadCodes(uint[] words, int rowWords, int row, int count, int bits)
    {
        var codes = new int[count];
        for (int j = 0; j < count; j++)
        {
            for (int t = 0; t < bits; t++)
            {
                long bit = (long)j * bits + t;
                uint word = words[row * rowWords + bit / 32];
                codes[j] |= (int)((word >> (int)(bit % 32)) & 1) << t;
            }
        }
        return codes;
    }

    [Fact]
    public void A_RampQuantizesExactly_CodesCountDownFromTheLargerEndpoint()
    {
        // 0..31 with 5 bits: the step is 1, the larger-magnitude endpoint 31 is the bias with code 0, so the scale is -1
        // and value j has code 31 - j; dequantizing gives the ramp back exactly.
        var w = Mx.Array(Enumerable.Range(0, 64).Select(i => (float)(i % 32)).ToArray(), new[] { 2, 32 });
        var (q, s, b) = Mx.Quantize(w, 32, 5);
        H.Shape(new[] { 2, 5 }, q);
        H.Shape(new[] { 2, 1 }, s);
        Assert.Equal(new[] { -1f, -1f }, s.ToArray<float>());
        Assert.Equal(new[] { 31f, 31f }, b!.ToArray<float>());
        var words = q.ToArray<uint>();
        for (int r = 0; r < 2; r++)
        {
            Assert.Equal(Enumerable.Range(0, 32).Select(j => 31 - j).ToArray(), ReadCodes(words, 5, r, 32, 5));
        }
        Assert.Equal(w.ToArray<float>(), Mx.Dequantize(q, s, b, 32, 5).ToArray<float>());
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void RoundTripWithinHalfAStep_CodesInRange_MatchesTheDefinition(int gs, int bits)
    {
        int rows = 3, cols = 2 * gs;
        var data = H.RandF(rows * cols, 11 + bits, -3, 1.5);
        data[5] = 0;
        var w = Mx.Array(data, new[] { rows, cols });
        var (q, s, b) = Mx.Quantize(w, gs, bits);
        H.Shape(new[] { rows, cols * bits / 32 }, q);
        H.Shape(new[] { rows, cols / gs }, s);
        Assert.Equal(DType.UInt32, q.DType);
        var words = q.ToArray<uint>();
        var scales = s.ToArray<float>();
        var biases = b!.ToArray<float>();
        var back = Mx.Dequantize(q, s, b, gs, bits).ToArray<float>();
        int n = (1 << bits) - 1;
        for (int r = 0; r < rows; r++)
        {
            var codes = ReadCodes(words, cols * bits / 32, r, cols, bits);
            for (int g = 0; g < cols / gs; g++)
            {
                float scale = scales[r * (cols / gs) + g], bias = biases[r * (cols / gs) + g];
                var group = Enumerable.Range(g * gs, gs).Select(j => data[r * cols + j]).ToArray();
                float lo = group.Min(), hi = group.Max();
                // MLX's rule: the endpoint of larger magnitude is the bias (or the bias is 0 when it is code 0 anyway).
                float edge = Math.Abs(lo) > Math.Abs(hi) ? lo : hi;
                Assert.True(bias == edge || bias == 0, $"bias {bias} edge {edge}");
                Assert.True(Math.Abs(scale) <= (hi - lo) / n * 1.6 + 1e-6, $"scale {scale} range {hi - lo}");
                for (int j = 0; j < gs; j++)
                {
                    int c = codes[g * gs + j];
                    float value = data[r * cols + g * gs + j];
                    // The code is the rounded position of the value on the group's grid, clipped to the codes there are:
                    // within the grid it is off by at most half a step. (The adjusted step can leave the far end of
                    // the range just past the last code, which then clips, as in MLX.)
                    float position = MathF.Round((value - bias) / scale);
                    Assert.Equal(Math.Clamp(position, 0, n), c);
                    Assert.True(Math.Abs((double)scale * c + bias - back[r * cols + g * gs + j]) <= 1e-5 * (1 + Math.Abs(bias)));
                    if (position >= 0 && position <= n)
                    {
                        Assert.True(Math.Abs(back[r * cols + g * gs + j] - value) <= Math.Abs(scale) * 0.5 + 1e-5, $"|{back[r * cols + g * gs + j]} - {value}| > step/2 {scale}");
                    }
                }
            }
        }
    }

    [Fact]
    public void HalfTypes_Float64_Batched_AndNonContiguousInputs()
    {
        var data = H.RandF(2 * 3 * 64, 5);
        foreach (var dt in new[] { DType.Float16, DType.BFloat16, DType.Float64 })
        {
            var w = Mx.Array(data, new[] { 2, 3, 64 }, dt);
            var (q, s, b) = Mx.Quantize(w, 32, 4);
            Assert.Equal(dt, s.DType);
            Assert.Equal(dt, b!.DType);
            H.Shape(new[] { 2, 3, 8 }, q);
            var back = Mx.Dequantize(q, s, b, 32, 4);
            Assert.Equal(dt, back.DType);
            var err = Mx.Max(Mx.Abs(Mx.Subtract(Mx.AsType(back, DType.Float32), Mx.AsType(w, DType.Float32)))).Item<float>();
            Assert.True(err <= 4.0 / 15 + 0.02, $"{dt}: {err}");   // a step (the far end may clip) plus rounding
        }
        // A transposed view quantizes its logical rows.
        var m = Mx.Array(H.RandF(64 * 3, 6), new[] { 64, 3 });
        var (q1, s1, b1) = Mx.Quantize(Mx.Transpose(m), 64, 8);
        var (q2, s2, b2) = Mx.Quantize(Mx.Array(Mx.Transpose(m).ToArray<float>(), new[] { 3, 64 }), 64, 8);
        Assert.Equal(q2.ToArray<uint>(), q1.ToArray<uint>());
        Assert.Equal(s2.ToArray<float>(), s1.ToArray<float>());
        Assert.Equal(b2!.ToArray<float>(), b1!.ToArray<float>());
    }

    [Fact]
    public void ConstantGroups_AndEmptyArrays()
    {
        // A constant group: the range is 0, the step falls to 1e-7 and every value is the bias (or exactly 0).
        var w = Mx.Full(new[] { 2, 32 }, 0.75f);
        var (q, s, b) = Mx.Quantize(w, 32, 4);
        Assert.Equal(w.ToArray<float>(), Mx.Dequantize(q, s, b, 32, 4).ToArray<float>());
        var z = Mx.Zeros(new[] { 1, 64 });
        var (qz, sz, bz) = Mx.Quantize(z, 64, 4);
        Assert.Equal(new float[64], Mx.Dequantize(qz, sz, bz, 64, 4).ToArray<float>());
        var e = Mx.Zeros(new[] { 0, 64 });
        var (qe, se, be) = Mx.Quantize(e, 64, 4);
        H.Shape(new[] { 0, 8 }, qe);
        H.Shape(new[] { 0, 64 }, Mx.Dequantize(qe, se, be, 64, 4));
        H.Shape(new[] { 3, 0 }, Mx.QuantizedMatmul(Mx.Zeros(new[] { 3, 64 }), qe, se, be, true, 64, 4));
    }

    [Fact]
    public void BadArgumentsThrowTypedErrors()
    {
        var w = Mx.Zeros(new[] { 4, 64 });
        Assert.Throws<ArgumentException>(() => Mx.Quantize(w, 48, 4));
        Assert.Throws<ArgumentException>(() => Mx.Quantize(w, 64, 7));
        Assert.Throws<ArgumentException>(() => Mx.Quantize(w, 64, 1));
        Assert.Throws<ArgumentException>(() => Mx.Quantize(Mx.Zeros(new[] { 64 }), 64, 4));
        Assert.Throws<ArgumentException>(() => Mx.Quantize(Mx.Zeros(new[] { 2, 96 }), 64, 4));
        Assert.Throws<ArgumentException>(() => Mx.Quantize(Mx.Zeros(new[] { 2, 64 }, DType.Int32), 64, 4));
        Assert.Throws<ArgumentException>(() => Mx.Quantize(w, 64, 4, QuantizationMode.Mxfp4));
        var (q, s, b) = Mx.Quantize(w, 64, 4);
        Assert.Throws<ArgumentException>(() => Mx.Dequantize(q, s, null, 64, 4));
        Assert.Throws<ArgumentException>(() => Mx.Dequantize(q, s, b, 32, 4));
        Assert.Throws<ArgumentException>(() => Mx.Dequantize(q, s, b, 64, 8));
        Assert.Throws<ArgumentException>(() => Mx.Dequantize(Mx.AsType(q, DType.Int32), s, b, 64, 4));
        Assert.Throws<ArgumentException>(() => Mx.QuantizedMatmul(Mx.Zeros(new[] { 2, 63 }), q, s, b, true, 64, 4));
        Assert.Throws<ArgumentException>(() => Mx.QuantizedMatmul(Mx.Zeros(new[] { 2, 4 }), q, s, b, true, 64, 4));
        Assert.Throws<ArgumentException>(() => Mx.QuantizedMatmul(Mx.Zeros(new[] { 2, 64 }), q, Mx.AsType(s, DType.Int32), Mx.AsType(b!, DType.Int32), true, 64, 4));
        Assert.Throws<ArgumentException>(() => Mx.QuantizedMatmul(Mx.Zeros(new[] { 2, 64 }), q, s, Mx.Zeros(new[] { 4, 2 }), true, 64, 4));
    }

    // y = x @ W^T (or x @ W) in double from the dequantized weight, W (rows, cols) row-major.
    private static double[] Reference(float[] x, int m, int k, float[] wd, int n, bool transpose)
    {
        var y = new double[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double acc = 0;
                for (int t = 0; t < k; t++)
                {
                    acc += (double)x[i * k + t] * (transpose ? wd[j * k + t] : wd[t * n + j]);
                }
                y[i * n + j] = acc;
            }
        }
        return y;
    }

    public static IEnumerable<object[]> MatmulCases() =>
        from m in new[] { 1, 2, 4, 5, 37 }
        from bits in new[] { 2, 3, 4, 8 }
        from t in new[] { true, false }
        select new object[] { m, bits, t };

    [Theory]
    [MemberData(nameof(MatmulCases))]
    public void MatmulMatchesTheDequantizedProduct(int m, int bits, bool transpose)
    {
        int gs = bits == 3 ? 32 : 64;
        int k = transpose ? 192 : 33, n = transpose ? 33 : 128;
        var (rows, cols) = transpose ? (n, k) : (k, n);
        var wData = H.RandF(rows * cols, 20 + bits);
        var (q, s, b) = Mx.Quantize(Mx.Array(wData, new[] { rows, cols }), gs, bits);
        var wd = Mx.Dequantize(q, s, b, gs, bits).ToArray<float>();
        var x = H.RandF(m * k, 30 + m);
        var y = Mx.QuantizedMatmul(Mx.Array(x, new[] { m, k }), q, s, b, transpose, gs, bits);
        H.Shape(new[] { m, n }, y);
        H.Close(Reference(x, m, k, wd, n, transpose), y, 1e-4, 1e-4);
    }

    [Fact]
    public void Matmul_BatchedX_BatchedW_VectorX_NonContiguousX_HalfTypes()
    {
        int k = 128, n = 9;
        var wData = H.RandF(2 * n * k, 41);
        var (q, s, b) = Mx.Quantize(Mx.Array(wData, new[] { 2, n, k }), 64, 4);
        var wd = Mx.Dequantize(q, s, b, 64, 4).ToArray<float>();
        // x (3, 1, 2, k) broadcast against w (2, n, k): batch (3, 2).
        var x = H.RandF(3 * 2 * k, 42);
        var y = Mx.QuantizedMatmul(Mx.Array(x, new[] { 3, 1, 2, k }), q, s, b, true, 64, 4);
        H.Shape(new[] { 3, 2, 2, n }, y);
        var expected = new List<double>();
        for (int i = 0; i < 3; i++)
        {
            for (int bi = 0; bi < 2; bi++)
            {
                expected.AddRange(Reference(x.Skip(i * 2 * k).Take(2 * k).ToArray(), 2, k, wd.Skip(bi * n * k).Take(n * k).ToArray(), n, true));
            }
        }
        H.Close(expected, y, 1e-4, 1e-4);

        // A 2-D weight against a 3-D x, a 1-D x and a transposed (non-contiguous) x.
        var (q2, s2, b2) = Mx.Quantize(Mx.Array(wData.Take(n * k).ToArray(), new[] { n, k }), 64, 4);
        var wd2 = wd.Take(n * k).ToArray();
        var x3 = H.RandF(2 * 5 * k, 43);
        H.Close(Reference(x3, 10, k, wd2, n, true), Mx.QuantizedMatmul(Mx.Array(x3, new[] { 2, 5, k }), q2, s2, b2, true, 64, 4), 1e-4, 1e-4);
        var v = x3.Take(k).ToArray();
        var yv = Mx.QuantizedMatmul(Mx.Array(v), q2, s2, b2, true, 64, 4);
        H.Shape(new[] { n }, yv);
        H.Close(Reference(v, 1, k, wd2, n, true), yv, 1e-4, 1e-4);
        var xt = Mx.Transpose(Mx.Array(x3.Take(5 * k).ToArray(), new[] { k, 5 }));
        H.Close(Reference(xt.ToArray<float>(), 5, k, wd2, n, true), Mx.QuantizedMatmul(xt, q2, s2, b2, true, 64, 4), 1e-4, 1e-4);

        foreach (var dt in new[] { DType.Float16, DType.BFloat16, DType.Float64 })
        {
            var (qh, sh, bh) = Mx.Quantize(Mx.Array(wData.Take(n * k).ToArray(), new[] { n, k }, dt), 64, 4);
            var wdh = Mx.Dequantize(qh, sh, bh, 64, 4).ToArray<float>();
            var xh = Mx.Array(x3.Take(3 * k).ToArray(), new[] { 3, k }, dt);
            var yh = Mx.QuantizedMatmul(xh, qh, sh, bh, true, 64, 4);
            Assert.Equal(dt, yh.DType);
            var (rt, at) = H.Tol(dt);
            H.Close(Reference(xh.ToArray<float>(), 3, k, wdh, n, true), yh, Math.Max(rt, 1e-4) * 4, Math.Max(at, 1e-4) * 40);
        }
    }

    [Fact]
    public void Gradients_MatchFiniteDifferences_AndVmapMatchesTheLoop()
    {
        int m = 3, k = 64, n = 5;
        var (q, s, b) = Mx.Quantize(Mx.Array(H.RandF(n * k, 51), new[] { n, k }), 32, 4);
        MxArray[] grads = null!, primals = null!;
        MxArray r = null!;
        foreach (var dt in new[] { DType.Float32, DType.Float64 })
        {
            var x = Mx.Array(H.Rand(m * k, 52), new[] { m, k }, dt);
            primals = new[] { x, Mx.AsType(s, dt), Mx.AsType(b!, dt) };
            r = Mx.Array(H.Rand(m * n, 53), new[] { m, n }, dt);
            var rr = r;
            MxArray Loss(MxArray[] a) => Mx.Sum(Mx.Multiply(Mx.QuantizedMatmul(a[0], q, a[1], a[2], true, 32, 4), rr));
            grads = Mx.Grad(Loss, new[] { 0, 1, 2 })(primals);
            for (int arg = 0; arg < 3; arg++)
            {
                var p = primals[arg].ToArray<double>();
                var fd = new double[p.Length];
                double base0 = Loss(primals).Item<double>();
                for (int i = 0; i < p.Length; i++)
                {
                    // The loss is linear in each argument: a unit step gives the derivative without truncation error.
                    var moved = (double[])p.Clone();
                    moved[i] += 1;
                    var args = (MxArray[])primals.Clone();
                    args[arg] = Mx.Array(moved, primals[arg].Shape, dt);
                    fd[i] = Loss(args).Item<double>() - base0;
                }
                H.Close(fd, grads[arg], dt == DType.Float32 ? 1e-4 : 1e-6, dt == DType.Float32 ? 1e-3 : 1e-6, $"{dt} argument {arg}");
            }
        }
        // The float32 path, transpose=false, through the same rule (x's gradient is a product with the other layout).
        var (qf, sf, bf) = Mx.Quantize(Mx.Array(H.RandF(k * 64, 54), new[] { k, 64 }), 64, 8);
        var xf = Mx.Array(H.RandF(m * k, 55), new[] { m, k });
        var gx = Mx.Grad(a => Mx.Sum(Mx.QuantizedMatmul(a, qf, sf, bf, false, 64, 8)))(xf);
        // d/dx sum(x @ W) = the row sums of W, for every row of x.
        var rowSums = Mx.Sum(Mx.Dequantize(qf, sf, bf, 64, 8), 1).ToArray<float>().Select(v => (double)v).ToArray();
        H.Close(Enumerable.Range(0, m).SelectMany(_ => rowSums).ToArray(), gx, 1e-4, 1e-4);
        Assert.Throws<NotSupportedException>(() => Mx.Grad(a => Mx.Sum(Mx.QuantizedMatmul(xf, a, sf, bf, false, 64, 8)))(qf).ToArray<float>());

        // JVP in x and in (scales, biases) against the VJP: <J t, r> = <t, J^T r>.
        var tx = Mx.Array(H.Rand(m * k, 56), new[] { m, k }, DType.Float64);
        var ts = Mx.Array(H.Rand(n * 2, 57), new[] { n, 2 }, DType.Float64);
        var tb = Mx.Array(H.Rand(n * 2, 58), new[] { n, 2 }, DType.Float64);
        var (_, jv) = Mx.Jvp(a => new[] { Mx.QuantizedMatmul(a[0], q, a[1], a[2], true, 32, 4) }, primals, new[] { tx, ts, tb });
        double lhs = Mx.Sum(Mx.Multiply(jv[0], r)).Item<double>();
        double rhs = Mx.Sum(Mx.Multiply(grads[0], tx)).Item<double>() + Mx.Sum(Mx.Multiply(grads[1], ts)).Item<double>() + Mx.Sum(Mx.Multiply(grads[2], tb)).Item<double>();
        Assert.True(Math.Abs(lhs - rhs) <= 1e-6 * Math.Abs(rhs), $"{lhs} vs {rhs}");   // float64 runs through float32 codes

        // vmap over x's leading axis equals the per-slice products.
        var xs = Mx.Array(H.RandF(4 * 2 * k, 59), new[] { 4, 2, k });
        var mapped = Mx.Vmap(a => Mx.QuantizedMatmul(a, q, s, b, true, 32, 4))(xs);
        var loop = Mx.Stack(Enumerable.Range(0, 4).Select(i => Mx.QuantizedMatmul(Mx.Take(xs, Mx.Array(i), 0), q, s, b, true, 32, 4)).ToArray());
        H.Shape(new[] { 4, 2, 5 }, mapped);
        H.Close(loop.ToArray<float>(), mapped, 1e-5, 1e-5);   // 8 rows take the GEMM path, 2 the direct one
    }

    [Fact]
    public void DequantizeGradientsInScalesAndBiases()
    {
        var (q, s, b) = Mx.Quantize(Mx.Array(H.RandF(2 * 64, 61), new[] { 2, 64 }), 32, 3);
        var r = Mx.Array(H.RandF(2 * 64, 62), new[] { 2, 64 });
        var grads = Mx.Grad(a => Mx.Sum(Mx.Multiply(Mx.Dequantize(q, a[0], a[1], 32, 3), r)), new[] { 0, 1 })(new[] { s, b! });
        var codes = Mx.Dequantize(q, Mx.OnesLike(s), Mx.ZerosLike(b!), 32, 3).ToArray<float>();
        var rr = r.ToArray<float>();
        var ds = new double[4];
        var db = new double[4];
        for (int i = 0; i < 128; i++)
        {
            ds[i / 32] += codes[i] * rr[i];
            db[i / 32] += rr[i];
        }
        H.Close(ds, grads[0], 1e-5, 1e-5);
        H.Close(db, grads[1], 1e-5, 1e-5);
    }

    [Fact]
    public void Fp8_E4M3_EveryCodeDecodesAndReencodesToItself_RoundsToEven_Saturates()
    {
        var all = Mx.Array(Enumerable.Range(0, 256).Select(i => (byte)i).ToArray());
        var values = Mx.FromFp8(all, DType.Float32).ToArray<float>();
        // The format: sign, 4 exponent bits (bias 7), 3 mantissa bits; subnormals at exponent 0; 0x7F/0xFF NaN.
        for (int i = 0; i < 256; i++)
        {
            int e = (i >> 3) & 15, mant = i & 7;
            double mag = e == 0 ? mant / 8.0 * Math.Pow(2, -6) : (1 + mant / 8.0) * Math.Pow(2, e - 7);
            if ((i & 0x7F) == 0x7F) Assert.True(float.IsNaN(values[i]));
            else Assert.Equal((i & 0x80) != 0 ? -mag : mag, values[i]);
        }
        Assert.Equal(448f, values[0x7E]);
        var finite = Enumerable.Range(0, 256).Where(i => (i & 0x7F) != 0x7F).ToArray();
        var back = Mx.ToFp8(Mx.Array(finite.Select(i => values[i]).ToArray())).ToArray<byte>();
        Assert.Equal(finite.Select(i => (byte)i).ToArray(), back);
        // Midpoints round to the even mantissa; large values saturate to 448.
        var mids = Mx.ToFp8(Mx.Array(new[] { 1.0625f, 1.1875f, 1000f, -1e9f, 3e-3f })).ToArray<byte>();
        Assert.Equal(new byte[] { 0x38, 0x3A, 0x7E, 0xFE }, mids.Take(4).ToArray());
        Assert.Equal(Math.Round(3e-3 / Math.Pow(2, -9)), mids[4]);
        Assert.Equal(DType.BFloat16, Mx.FromFp8(all).DType);
        var half = Mx.ToFp8(Mx.Array(new[] { 0.5f, -2f }, DType.Float16)).ToArray<byte>();
        Assert.Equal(new byte[] { 0x30, 0xC0 }, half);
    }

    [Theory]
    [InlineData(QuantizationMode.Mxfp4)]
    [InlineData(QuantizationMode.Mxfp8)]
    [InlineData(QuantizationMode.Nvfp4)]
    public void FloatModes_RepresentableValuesRoundTripExactly_OthersWithinAStep(QuantizationMode mode)
    {
        int gs = mode == QuantizationMode.Nvfp4 ? 16 : 32, bits = mode == QuantizationMode.Mxfp8 ? 8 : 4;
        float[] fp4 = { 0, 0.5f, 1, 1.5f, 2, 3, 4, 6 };
        // Groups whose largest magnitude is the largest code times a power of two hold codes times that power exactly.
        int cols = 2 * gs;
        var data = new float[2 * cols];
        for (int i = 0; i < data.Length; i++)
        {
            float scale = (i / gs) % 2 == 0 ? 0.25f : 8f;
            float code = bits == 4 ? fp4[i % 8] : Quantized_E4M3Sample(i);
            if (i % gs == 0) code = bits == 4 ? 6 : 448;
            data[i] = ((i % 3 == 1) ? -code : code) * scale;
        }
        var w = Mx.Array(data, new[] { 2, cols });
        var (q, s, b) = Mx.Quantize(w, mode: mode);
        Assert.Null(b);
        Assert.Equal(DType.UInt8, s.DType);
        H.Shape(new[] { 2, cols * bits / 32 }, q);
        H.Shape(new[] { 2, cols / gs }, s);
        var back = Mx.Dequantize(q, s, null, mode: mode, dtype: DType.Float32);
        Assert.Equal(data, back.ToArray<float>());
        Assert.Equal(DType.BFloat16, Mx.Dequantize(q, s, null, mode: mode).DType);

        // Random values: within the format's relative step of the group's scale (E2M1 rounds to steps of up to 2 at
        // the top of its range, relative error 1/4 for E4M3 subnormal-free values of 1/16 at most).
        var rnd = H.RandF(4 * gs, 71, -5, 5);
        var (q2, s2, _) = Mx.Quantize(Mx.Array(rnd, new[] { 4, gs }), mode: mode);
        var back2 = Mx.Dequantize(q2, s2, null, mode: mode, dtype: DType.Float32).ToArray<float>();
        for (int g = 0; g < 4; g++)
        {
            float amax = rnd.Skip(g * gs).Take(gs).Max(Math.Abs);
            for (int j = 0; j < gs; j++)
            {
                float e = Math.Abs(back2[g * gs + j] - rnd[g * gs + j]);
                Assert.True(e <= amax * 0.34 + 1e-6, $"{mode}: {rnd[g * gs + j]} -> {back2[g * gs + j]} (max {amax})");
            }
        }
        if (mode == QuantizationMode.Mxfp8)
        {
            // Each value is the E4M3 rounding of w / 2^e, times 2^e, for the group's power-of-two scale 2^e.
            var scales = s2.ToArray<byte>().Select(v => Math.Pow(2, v - 127)).ToArray();
            var scaled = rnd.Select((v, i) => (float)(v / scales[i / gs])).ToArray();
            var expected = Mx.FromFp8(Mx.ToFp8(Mx.Array(scaled)), DType.Float32).ToArray<float>().Select((v, i) => v * scales[i / gs]).ToArray();
            H.Close(expected, Mx.Array(back2), 0, 0);
        }
        // A product with the quantized weight is the product with its dequantized values.
        var x = Mx.Array(H.RandF(3 * gs, 72), new[] { 3, gs });
        var y = Mx.QuantizedMatmul(x, q2, s2, null, true, mode: mode);
        H.Close(Reference(x.ToArray<float>(), 3, gs, back2, 4, true), y, 1e-4, 1e-4);
    }

    private static float Quantized_E4M3Sample(int i) => new[] { 0f, 0.015625f, 1f, 1.125f, 3.5f, 20f, 240f, 448f }[i % 8];

    [Fact]
    public void Nvfp4_GlobalScaleIsDividedOutAgain()
    {
        var data = H.RandF(2 * 32, 81, -1000, 1000);
        var w = Mx.Array(data, new[] { 2, 32 });
        var global = Mx.Array(Mx.Max(Mx.Abs(w)).Item<float>());
        var (q, s, _) = Mx.Quantize(w, mode: QuantizationMode.Nvfp4, globalScale: global);
        var back = Mx.Dequantize(q, s, null, mode: QuantizationMode.Nvfp4, globalScale: global, dtype: DType.Float32).ToArray<float>();
        for (int i = 0; i < data.Length; i++)
        {
            Assert.True(Math.Abs(back[i] - data[i]) <= 1000 * 0.34, $"{data[i]} -> {back[i]}");
        }
        Assert.Throws<ArgumentException>(() => Mx.Quantize(w, mode: QuantizationMode.Mxfp4, globalScale: global));
        Assert.Throws<ArgumentException>(() => Mx.Quantize(w, mode: QuantizationMode.Nvfp4, globalScale: Mx.Array(new[] { 1f, 2f })));
    }
}

/// <summary>
/// GGUF Q4_0 and Q8_0 tensors load as MLX affine triplets (names "P.weight", "P.scales", "P.biases"); dequantizing them
/// with Mx.Dequantize, and multiplying with Mx.QuantizedMatmul, agree with ggml's own block formula (d * (q - 8) and
/// d * q), which the loader applies independently when asked to dequantize.
/// </summary>
public class GgufQuantizedTests
{
    private static byte[] Gguf(params (string Name, int Type, long Cols, long Rows, byte[] Data)[] tensors)
    {
        var s = new MemoryStream();
        var w = new BinaryWriter(s);
        w.Write("GGUF"u8.ToArray());
        w.Write(3u);
        w.Write((ulong)tensors.Length);
        w.Write(0UL);
        ulong offset = 0;
        foreach (var t in tensors)
        {
            var name = System.Text.Encoding.UTF8.GetBytes(t.Name);
            w.Write((ulong)name.Length);
            w.Write(name);
            w.Write(2u);
            w.Write(t.Cols);
            w.Write(t.Rows);
            w.Write(t.Type);
            w.Write(offset);
            offset += (ulong)((t.Data.Length + 31) / 32 * 32);
        }
        foreach (var t in tensors)
        {
            while (s.Length % 32 != 0) w.Write((byte)0);
            w.Write(t.Data);
        }
        return s.ToArray();
    }

    // Blocks of 32 values: a float16 scale d, then 16 bytes of nibbles (Q4_0) or 32 signed bytes (Q8_0).
    private static byte[] Blocks(int blocks, bool q8, int seed)
    {
        var rng = new Random(seed);
        var data = new List<byte>();
        for (int i = 0; i < blocks; i++)
        {
            data.AddRange(BitConverter.GetBytes((Half)((rng.NextDouble() - 0.3) * 0.2)));
            for (int j = 0; j < (q8 ? 32 : 16); j++) data.Add((byte)rng.Next(256));
        }
        return data.ToArray();
    }

    [Fact]
    public void Q4_0_And_Q8_0_DequantizeAndMultiplyAsGgml()
    {
        const int rows = 3, cols = 96;
        string path = Path.Combine(Path.GetTempPath(), $"mlx-q-{Guid.NewGuid():N}.gguf");
        File.WriteAllBytes(path, Gguf(("a.weight", 2, cols, rows, Blocks(rows * cols / 32, false, 1)), ("b.weight", 8, cols, rows, Blocks(rows * cols / 32, true, 2))));
        try
        {
            var triplets = Mx.Load(path);
            var dense = Mx.Load(path, new LoadOptions { Dequantize = true });
            Assert.Equal(new[] { "a.biases", "a.scales", "a.weight", "b.biases", "b.scales", "b.weight" }, triplets.Keys.Order().ToArray());
            var x = Mx.Array(H.RandF(2 * cols, 3), new[] { 2, cols });
            foreach (var (p, bits) in new[] { ("a", 4), ("b", 8) })
            {
                var reference = dense[p + ".weight"].ToArray<float>();
                var w = Mx.Dequantize(triplets[p + ".weight"], triplets[p + ".scales"], triplets[p + ".biases"], 32, bits);
                Assert.Equal(DType.Float16, w.DType);
                H.Close(reference, Mx.AsType(w, DType.Float32), 2e-3, 1e-4, p);
                var y = Mx.QuantizedMatmul(x, triplets[p + ".weight"], triplets[p + ".scales"], triplets[p + ".biases"], true, 32, bits);
                H.Close(Mx.Matmul(x, Mx.Transpose(Mx.Array(reference, new[] { rows, cols }))).ToArray<float>(), Mx.AsType(y, DType.Float32), 1e-2, 1e-2, p);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}

/// <summary>gather_qmm and gather_mm against the loop of single products they stand for.</summary>
public class GatherProductTests
{
    [Fact]
    public void GatherQmm_MixtureOfExpertsShapes_MatchThePerIndexProducts()
    {
        int experts = 3, n = 6, k = 64, tokens = 5;
        var (q, s, b) = Mx.Quantize(Mx.Array(H.RandF(experts * n * k, 1), new[] { experts, n, k }), 32, 4);
        var x = Mx.Array(H.RandF(tokens * 1 * k, 2), new[] { tokens, 1, 1, k });   // (tokens, 1, M = 1, K)
        var choice = Mx.Array(new[] { 2, 0, 0, 1, 1, 2, 0, 2, 2, 1 }, new[] { tokens, 2 }, DType.UInt32);   // two experts a token
        var lhs = Mx.Reshape(Mx.Arange(0, tokens, dtype: DType.Int32), new[] { tokens, 1 });
        var y = Mx.GatherQmm(x, q, s, b, lhs, choice, true, 32, 4);
        H.Shape(new[] { tokens, 2, 1, n }, y);
        var got = y.ToArray<float>();
        var ch = choice.ToArray<uint>();
        for (int t = 0; t < tokens; t++)
        {
            for (int e = 0; e < 2; e++)
            {
                int ex = (int)ch[t * 2 + e];
                var one = Mx.QuantizedMatmul(Mx.Take(Mx.Reshape(x, new[] { tokens, 1, k }), Mx.Array(t), 0), Mx.Take(q, Mx.Array(ex), 0),
                    Mx.Take(s, Mx.Array(ex), 0), Mx.Take(b!, Mx.Array(ex), 0), true, 32, 4).ToArray<float>();
                H.Close(one, Mx.Array(got.Skip((t * 2 + e) * n).Take(n).ToArray()), 1e-6, 1e-6);
            }
        }
        // Default lhs: x's batch in order; bfloat16 through float32.
        var xs = Mx.Array(H.RandF(experts * 2 * k, 3), new[] { experts, 2, k });
        var yd = Mx.GatherQmm(xs, q, s, b, rhsIndices: Mx.Array(new[] { 1, 1, 0 }), groupSize: 32, bits: 4);
        var expected = Mx.QuantizedMatmul(xs, Mx.Take(q, Mx.Array(new[] { 1, 1, 0 }), 0), Mx.Take(s, Mx.Array(new[] { 1, 1, 0 }), 0), Mx.Take(b!, Mx.Array(new[] { 1, 1, 0 }), 0), true, 32, 4);
        H.Close(expected.ToArray<float>(), yd, 1e-6, 1e-6);
        var yh = Mx.GatherQmm(Mx.AsType(xs, DType.BFloat16), q, Mx.AsType(s, DType.BFloat16), Mx.AsType(b!, DType.BFloat16), rhsIndices: Mx.Array(new[] { 1, 1, 0 }), groupSize: 32, bits: 4);
        Assert.Equal(DType.BFloat16, yh.DType);
        H.Close(expected.ToArray<float>(), Mx.AsType(yh, DType.Float32), 0.03, 0.1);

        // Out-of-range indices fail when evaluated; the gradient in x adds up over tokens that share a matrix.
        Assert.Throws<IndexOutOfRangeException>(() => Mx.GatherQmm(xs, q, s, b, rhsIndices: Mx.Array(new[] { 3, 0, 0 }), groupSize: 32, bits: 4).ToArray<float>());
        var lhsShared = Mx.Array(new[] { 0, 0, 2 });
        MxArray Loss(MxArray a) => Mx.Sum(Mx.GatherQmm(a, q, s, b, lhsShared, Mx.Array(new[] { 0, 1, 2 }), true, 32, 4));
        var gx = Mx.Grad(Loss)(xs).ToArray<float>();
        var baseLoss = Loss(xs).Item<float>();
        var xv = xs.ToArray<float>();
        for (int i = 0; i < xv.Length; i += 7)
        {
            var moved = (float[])xv.Clone();
            moved[i] += 1;
            float fd = Loss(Mx.Array(moved, new[] { experts, 2, k })).Item<float>() - baseLoss;
            Assert.True(Math.Abs(fd - gx[i]) <= 1e-3 * (1 + Math.Abs(fd)), $"{i}: {fd} vs {gx[i]}");
        }
    }

    [Fact]
    public void GatherMm_MatchesThePerIndexProducts()
    {
        var a = Mx.Array(H.RandF(2 * 3 * 4, 5), new[] { 2, 3, 4 });
        var b = Mx.Array(H.RandF(3 * 4 * 5, 6), new[] { 3, 4, 5 });
        var y = Mx.GatherMm(a, b, Mx.Array(new[] { 1, 0, 1 }), Mx.Array(new[] { 2, 2, 0 }));
        H.Shape(new[] { 3, 3, 5 }, y);
        var expected = new[] { (1, 2), (0, 2), (1, 0) }.SelectMany(p =>
            Mx.Matmul(Mx.Take(a, Mx.Array(p.Item1), 0), Mx.Take(b, Mx.Array(p.Item2), 0)).ToArray<float>()).ToArray();
        H.Close(expected, y, 1e-6, 1e-6);
        Assert.Throws<ArgumentException>(() => Mx.GatherMm(a, b, Mx.Array(new[] { 0.5f })));
    }
}

/// <summary>qqmm: both operands through a floating-point quantization, the product of the dequantized values.</summary>
public class QqmmTests
{
    private static MxArray RoundTrip(MxArray a, QuantizationMode mode, MxArray? global = null)
    {
        var (q, s, _) = Mx.Quantize(a, mode: mode, globalScale: global);
        return Mx.Dequantize(q, s, null, mode: mode, globalScale: global, dtype: a.DType);
    }

    [Theory]
    [InlineData(QuantizationMode.Mxfp4)]
    [InlineData(QuantizationMode.Mxfp8)]
    [InlineData(QuantizationMode.Nvfp4)]
    public void ProductOfTheRoundTrippedOperands(QuantizationMode mode)
    {
        var x = Mx.Array(H.RandF(3 * 64, 1), new[] { 3, 64 });
        var w = Mx.Array(H.RandF(5 * 64, 2), new[] { 5, 64 });
        var expected = Mx.Matmul(RoundTrip(x, mode), Mx.Transpose(RoundTrip(w, mode))).ToArray<float>();
        H.Close(expected, Mx.Qqmm(x, w, mode: mode), 1e-6, 1e-6);
        // w given quantized: its dequantized values.
        var (q, s, _) = Mx.Quantize(w, mode: mode);
        H.Close(expected, Mx.Qqmm(x, q, s, mode: mode), 1e-6, 1e-6);
        // A vector x and a 3-D x.
        var yv = Mx.Qqmm(Mx.Take(x, Mx.Array(1), 0), w, mode: mode);
        H.Shape(new[] { 5 }, yv);
        H.Close(expected.Skip(5).Take(5).ToArray(), yv, 1e-6, 1e-6);
        var x3 = Mx.Reshape(Mx.Concatenate(new[] { x, x }, 0), new[] { 2, 3, 64 });
        H.Shape(new[] { 2, 3, 5 }, Mx.Qqmm(x3, w, mode: mode));
    }

    [Fact]
    public void Nvfp4GlobalScales_Errors_AndGradients()
    {
        var x = Mx.Array(H.RandF(4 * 32, 3, -50, 50), new[] { 4, 32 });
        var w = Mx.Array(H.RandF(6 * 32, 4), new[] { 6, 32 });
        var gx = Mx.Array(Mx.Max(Mx.Abs(x)).Item<float>());
        var gw = Mx.Array(Mx.Max(Mx.Abs(w)).Item<float>());
        var expected = Mx.Matmul(RoundTrip(x, QuantizationMode.Nvfp4, gx), Mx.Transpose(RoundTrip(w, QuantizationMode.Nvfp4, gw))).ToArray<float>();
        H.Close(expected, Mx.Qqmm(x, w, globalScaleX: gx, globalScaleW: gw), 1e-6, 1e-5);
        Assert.Throws<ArgumentException>(() => Mx.Qqmm(x, w, globalScaleX: gx));
        Assert.Throws<ArgumentException>(() => Mx.Qqmm(x, w, mode: QuantizationMode.Affine));
        Assert.Throws<ArgumentException>(() => Mx.Qqmm(x, Mx.Zeros(new[] { 6, 31 })));
        Assert.Throws<ArgumentException>(() => Mx.Qqmm(Mx.AsType(x, DType.Float64), w));

        // The gradients are quantized products of the cotangent with the other operand (quantized along the output's
        // rows and columns: multiples of the group size, as in MLX). mxfp8 keeps 3 mantissa bits; with 1.75 in every row
        // and column (so each group's scale is exact: 1.75 = 448 / 2^8, nothing clips) they stay near g w and g^T x.
        float[] Diagonal(int rows, int cols, int seed)
        {
            var v = H.RandF(rows * cols, seed, -1.5, 1.5);
            for (int j = 0; j < cols; j++) v[(j % rows) * cols + j] = 1.75f;
            return v;
        }
        var xs = Mx.Array(Diagonal(32, 64, 5), new[] { 32, 64 });
        var ws = Mx.Array(Diagonal(32, 64, 6), new[] { 32, 64 });
        var r = Mx.Array(Diagonal(32, 32, 7), new[] { 32, 32 });
        var grads = Mx.Grad(a => Mx.Sum(Mx.Multiply(Mx.Qqmm(a[0], a[1], mode: QuantizationMode.Mxfp8), r)), new[] { 0, 1 })(new[] { xs, ws });
        var exactX = Mx.Matmul(r, ws).ToArray<float>();
        var exactW = Mx.Matmul(Mx.Transpose(r), xs).ToArray<float>();
        H.Close(exactX, grads[0], 0.1, 0.6);
        H.Close(exactW, grads[1], 0.1, 0.6);
        // With a quantized weight the gradient in x is the cotangent times the dequantized weight.
        var (q, s, _) = Mx.Quantize(ws, mode: QuantizationMode.Mxfp8);
        var g = Mx.Grad(a => Mx.Sum(Mx.Multiply(Mx.Qqmm(a, q, s, mode: QuantizationMode.Mxfp8), r)))(xs);
        H.Close(Mx.Matmul(r, Mx.Dequantize(q, s, null, mode: QuantizationMode.Mxfp8, dtype: DType.Float32)).ToArray<float>(), g, 1e-5, 1e-5);
    }
}

/// <summary>Products with weights in the floating-point modes: one, several and many rows, both layouts, batches, gradients.</summary>
public class FloatModeMatmulTests
{
    public static IEnumerable<object[]> Cases() =>
        from mode in new[] { QuantizationMode.Mxfp4, QuantizationMode.Mxfp8, QuantizationMode.Nvfp4 }
        from m in new[] { 1, 5, 40 }
        from t in new[] { true, false }
        select new object[] { mode, m, t };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesTheDequantizedProduct(QuantizationMode mode, int m, bool transpose)
    {
        int k = 64, n = 32;
        var w = Mx.Array(H.RandF(k * n, 1), transpose ? new[] { n, k } : new[] { k, n });
        var (q, s, _) = Mx.Quantize(w, mode: mode);
        var dense = Mx.Dequantize(q, s, null, mode: mode, dtype: DType.Float32);
        var x = Mx.Array(H.RandF(m * k, 2), new[] { m, k });
        var expected = Mx.Matmul(x, transpose ? Mx.Transpose(dense) : dense).ToArray<float>();
        H.Close(expected, Mx.QuantizedMatmul(x, q, s, null, transpose, mode: mode), 1e-5, 1e-5);
        var xb = Mx.AsType(x, DType.BFloat16);
        var yb = Mx.QuantizedMatmul(xb, q, s, null, transpose, mode: mode);
        Assert.Equal(DType.BFloat16, yb.DType);
        H.Close(Mx.Matmul(Mx.AsType(xb, DType.Float32), transpose ? Mx.Transpose(dense) : dense).ToArray<float>(), Mx.AsType(yb, DType.Float32), 0.02, 0.05);
    }

    [Fact]
    public void BatchedWeights_AndTheGradientInX()
    {
        var w = Mx.Array(H.RandF(2 * 8 * 64, 3), new[] { 2, 8, 64 });
        var (q, s, _) = Mx.Quantize(w, mode: QuantizationMode.Mxfp4);
        var dense = Mx.Dequantize(q, s, null, mode: QuantizationMode.Mxfp4, dtype: DType.Float32);
        var x = Mx.Array(H.RandF(2 * 3 * 64, 4), new[] { 2, 3, 64 });
        H.Close(Mx.Matmul(x, Mx.SwapAxes(dense, -1, -2)).ToArray<float>(), Mx.QuantizedMatmul(x, q, s, null, mode: QuantizationMode.Mxfp4), 1e-5, 1e-5);
        var r = Mx.Array(H.RandF(2 * 3 * 8, 5), new[] { 2, 3, 8 });
        var g = Mx.Grad(a => Mx.Sum(Mx.Multiply(Mx.QuantizedMatmul(a, q, s, null, mode: QuantizationMode.Mxfp4), r)))(x);
        H.Close(Mx.Matmul(r, dense).ToArray<float>(), g, 1e-5, 1e-5);
        // The scales of these modes are uint8 codes: they take no float stand-in.
        Assert.Throws<ArgumentException>(() => Mx.QuantizedMatmul(x, q, Mx.AsType(s, DType.Float32), null, mode: QuantizationMode.Mxfp4));
    }
}

/// <summary>Quantized products inside compiled functions: the same results as the plain calls, on new shapes too.</summary>
public class CompiledQuantizedTests
{
    [Fact]
    public void CompiledQuantizedLayerEqualsThePlainCall()
    {
        var (q, s, b) = Mx.Quantize(Mx.Array(H.RandF(16 * 64, 1), new[] { 16, 64 }), 64, 4);
        MxArray[] Layer(MxArray[] a) => new[] { Mx.Add(Mx.Multiply(Mx.QuantizedMatmul(a[0], q, s, b, true, 64, 4), 2.0), 1.0) };
        var compiled = Mx.Compile(Layer);
        foreach (int rows in new[] { 1, 7, 1 })
        {
            var x = Mx.Array(H.RandF(rows * 64, 2 + rows), new[] { rows, 64 });
            Assert.Equal(Layer(new[] { x })[0].ToArray<float>(), compiled(new[] { x })[0].ToArray<float>());
        }
    }
}
