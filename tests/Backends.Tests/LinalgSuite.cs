namespace Mlx.Backends.Tests;

/// <summary>
/// Matmul and convolution (forward and both gradients) on one backend, checked against plain double loops written
/// here: odd and empty shapes, transposed, negative-step and broadcast operands, batches, 1-D to 3-D convolutions
/// with stride, padding, dilation and groups, every float dtype. GPU-side sizes stay small: on ILGPU's CPU
/// accelerator each barrier of the tiled matmul costs about a microsecond.
/// </summary>
public abstract class LinalgSuite
{
    protected abstract Device Device { get; }

    public static readonly DType[] FloatTypes = { DType.Float32, DType.Float64, DType.Float16, DType.BFloat16 };

    public static IEnumerable<object[]> FloatTypeCases() => FloatTypes.Select(t => new object[] { t });

    private static (double Rtol, double Atol) Tol(DType t) => t switch
    {
        DType.Float32 => (2e-5, 2e-5),
        DType.Float64 => (1e-12, 1e-12),
        _ => H.Tol(t),
    };

    private static double[] Values(int n, int seed, DType t) => H.RoundTo(H.Rand(n, seed, -1, 1), t);

    /// <summary>Row-major (m, k) @ (k, n) in double.</summary>
    private static double[] Product(double[] a, double[] b, int m, int k, int n)
    {
        var o = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
                o[i * n + j] = s;
            }
        return o;
    }

    private static double[] Transposed(double[] a, int rows, int cols)
    {
        var t = new double[a.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                t[j * rows + i] = a[i * cols + j];
        return t;
    }

    /// <summary>On the GPU, the result must come from a GPU kernel (its data in device memory), not the host fallback.</summary>
    private void AssertOnDevice(MxArray r)
    {
        Mx.Eval(r);
        if (Device.Type == DeviceType.Gpu)
        {
            Assert.IsType<DeviceBuffer>(r.Buffer);
        }
    }

    // Tiny products take the one-output-per-thread kernel, the larger ones the tiled kernel.
    public static readonly (int M, int K, int N)[] Shapes =
    {
        (1, 1, 1), (7, 5, 3), (1, 33, 7), (33, 1, 9), (0, 4, 3), (3, 0, 5), (4, 3, 0), (33, 47, 65), (64, 64, 64),
    };

    [Theory]
    [MemberData(nameof(FloatTypeCases))]
    public void MatmulShapes(DType t)
    {
        var (rtol, atol) = Tol(t);
        foreach (var (m, k, n) in Shapes)
        {
            var a = Values(m * k, m + 3 * k, t);
            var b = Values(k * n, n + 5 * k, t);
            var r = Mx.Matmul(Mx.Array(a, new[] { m, k }, t), Mx.Array(b, new[] { k, n }, t), Device);
            Assert.Equal(new[] { m, n }, r.Shape);
            Assert.Equal(t, r.DType);
            AssertOnDevice(r);
            H.Close(H.RoundTo(Product(a, b, m, k, n), t), r, rtol, atol, $"{t.Name()} {m}x{k}x{n}");
        }
    }

    [Theory]
    [MemberData(nameof(FloatTypeCases))]
    public void MatmulStridedOperands(DType t)
    {
        var (rtol, atol) = Tol(t);
        foreach (var (m, k, n) in new[] { (5, 3, 4), (33, 47, 45) })
        {
            var a = Values(m * k, 7 + m, t);
            var b = Values(k * n, 8 + n, t);
            var want = H.RoundTo(Product(a, b, m, k, n), t);
            // Column-major a, b as the transpose of its (n, k) transpose.
            var at = H.TransposedView(a, m, k, t);
            var bt = Mx.Transpose(Mx.Array(Transposed(b, k, n), new[] { n, k }, t));
            var r = Mx.Matmul(at, bt, Device);
            AssertOnDevice(r);
            H.Close(want, r, rtol, atol, $"{t.Name()} transposed {m}x{k}x{n}");
            // a with its rows reversed (a negative row stride), b a broadcast row (a zero row stride).
            var reversedRows = new double[m * k];
            for (int i = 0; i < m; i++) Array.Copy(a, (m - 1 - i) * k, reversedRows, i * k, k);
            var ar = Mx.Array(reversedRows, new[] { m, k }, t)[Idx.Slice(null, null, -1)];
            var row = b[..n];
            var bb = Mx.BroadcastTo(Mx.Array(row, new[] { 1, n }, t), new[] { k, n });
            var rowSums = new double[m * n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    rowSums[i * n + j] = Enumerable.Range(0, k).Sum(p => a[i * k + p]) * row[j];
            H.Close(H.RoundTo(rowSums, t), Mx.Matmul(ar, bb, Device), rtol, atol, $"{t.Name()} reversed/broadcast {m}x{k}x{n}");
        }
    }

    [Theory]
    [MemberData(nameof(FloatTypeCases))]
    public void ShortProductsSplitAlongK(DType t)
    {
        // Few output blocks and a long K: the GPU runs slices of K as a batch, then sums them (MatmulSplitK). Plain,
        // transposed, and operands that start inside a larger array.
        var (rtol, atol) = Tol(t);
        foreach (var (m, k, n) in new[] { (8, 1024, 16), (6, 2048, 12) })
        {
            var a = Values(m * k, 11 + m, t);
            var b = Values(k * n, 12 + n, t);
            var want = H.RoundTo(Product(a, b, m, k, n), t);
            var r = Mx.Matmul(Mx.Array(a, new[] { m, k }, t), Mx.Array(b, new[] { k, n }, t), Device);
            AssertOnDevice(r);
            H.Close(want, r, rtol, atol, $"{t.Name()} {m}x{k}x{n}");
            var bt = Mx.Transpose(Mx.Array(Transposed(b, k, n), new[] { n, k }, t));
            H.Close(want, Mx.Matmul(H.TransposedView(a, m, k, t), bt, Device), rtol, atol, $"{t.Name()} transposed {m}x{k}x{n}");
            var padded = new double[(m + 2) * k];
            Array.Copy(a, 0, padded, 2 * k, m * k);
            var inner = Mx.Array(padded, new[] { m + 2, k }, t)[Idx.Slice(2, null)];
            var bPadded = Mx.Array(b.Concat(b).ToArray(), new[] { 2 * k, n }, t)[Idx.Slice(k, null)];
            H.Close(want, Mx.Matmul(inner, bPadded, Device), rtol, atol, $"{t.Name()} offset operands {m}x{k}x{n}");
        }
        // A batch of three short products against one broadcast b (on a GPU: a slice index inside the batch index;
        // the CPU accelerator's two multiprocessors have blocks enough here).
        {
            int m = 8, k = 1024, n = 16;
            var a = Values(3 * m * k, 13, t);
            var b = Values(k * n, 14, t);
            var want = Enumerable.Range(0, 3).SelectMany(i => Product(a[(i * m * k)..((i + 1) * m * k)], b, m, k, n)).ToArray();
            var r = Mx.Matmul(Mx.Array(a, new[] { 3, m, k }, t), Mx.Array(b, new[] { k, n }, t), Device);
            AssertOnDevice(r);
            H.Close(H.RoundTo(want, t), r, rtol, atol, $"{t.Name()} batch of 3, {m}x{k}x{n}");
        }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    [InlineData(DType.BFloat16)]
    public void MatmulBatchesBroadcastAndVectors(DType t)
    {
        var (rtol, atol) = Tol(t);
        foreach (var (m, k, n) in new[] { (5, 7, 4), (20, 40, 36) })
        {
            // (2, 1, m, k) @ (3, k, n) -> (2, 3, m, n)
            var a = Values(2 * m * k, 11, t);
            var b = Values(3 * k * n, 12, t);
            var r = Mx.Matmul(Mx.Array(a, new[] { 2, 1, m, k }, t), Mx.Array(b, new[] { 3, k, n }, t), Device);
            Assert.Equal(new[] { 2, 3, m, n }, r.Shape);
            AssertOnDevice(r);
            var want = new List<double>();
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 3; j++)
                    want.AddRange(Product(a[(i * m * k)..((i + 1) * m * k)], b[(j * k * n)..((j + 1) * k * n)], m, k, n));
            H.Close(H.RoundTo(want, t), r, rtol, atol, $"{t.Name()} batched {m}x{k}x{n}");
        }
        // Vector @ matrix and matrix @ vector.
        var v = Values(9, 13, t);
        var mat = Values(9 * 6, 14, t);
        H.Close(H.RoundTo(Product(v, mat, 1, 9, 6), t), Mx.Matmul(Mx.Array(v, new[] { 9 }, t), Mx.Array(mat, new[] { 9, 6 }, t), Device), rtol, atol, "vector @ matrix");
        var w = Values(6, 15, t);
        H.Close(H.RoundTo(Product(mat, w, 9, 6, 1), t), Mx.Matmul(Mx.Array(mat, new[] { 9, 6 }, t), Mx.Array(w, new[] { 6 }, t), Device), rtol, atol, "matrix @ vector");
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void MatmulGradients(DType t)
    {
        var (rtol, atol) = Tol(t);
        // Large enough for the tiled kernel, which then reads both transposed operands in place.
        int m = 33, k = 40, n = 50;
        var a = Values(m * k, 21, t);
        var b = Values(k * n, 22, t);
        var g = Values(m * n, 23, t);
        MxArray[] grads;
        using (Mx.Place(Device))
        {
            grads = Mx.Vjp(x => new[] { Mx.Matmul(x[0], x[1]) }, new[] { Mx.Array(a, new[] { m, k }, t), Mx.Array(b, new[] { k, n }, t) },
                new[] { Mx.Array(g, new[] { m, n }, t) }).Vjps;
        }
        // dA = G B^T, dB = A^T G: the transposes are read in place.
        H.Close(Product(g, Transposed(b, k, n), m, n, k), grads[0], rtol, atol, "dA");
        H.Close(Product(Transposed(a, m, k), g, k, m, n), grads[1], rtol, atol, "dB");
    }

    /// <summary>
    /// Convolution in double: y (N, *O, Cout) from x (N, *S, Cin) and w (Cout, *K, Cin / groups), and with a cotangent
    /// ct of y the gradients dx and dw, all by visiting every (image, output position, kernel offset) triple.
    /// </summary>
    private static (double[] Y, double[] Dx, double[] Dw, int[] OutShape) ConvReference(double[] x, int[] xs, double[] w, int[] ws, double[]? ct,
        int[] stride, int[] pad, int[] dil, int groups)
    {
        int d = xs.Length - 2, n = xs[0], cin = xs[^1], cout = ws[0], cg = cin / groups, og = cout / groups;
        var spatial = xs[1..^1];
        var kernel = ws[1..^1];
        var outSp = new int[d];
        for (int i = 0; i < d; i++) outSp[i] = Math.Max(0, (spatial[i] + 2 * pad[i] - dil[i] * (kernel[i] - 1) - 1) / stride[i] + 1);
        int outPer = outSp.Aggregate(1, (p, v) => p * v), kPer = kernel.Aggregate(1, (p, v) => p * v), inPer = spatial.Aggregate(1, (p, v) => p * v);
        var y = new double[n * outPer * cout];
        var dx = new double[x.Length];
        var dw = new double[w.Length];
        var o = new int[d];
        var kk = new int[d];
        for (int b = 0; b < n; b++)
            for (int op = 0; op < outPer; op++)
            {
                for (int i = d - 1, r = op; i >= 0; i--) { o[i] = r % outSp[i]; r /= outSp[i]; }
                for (int kf = 0; kf < kPer; kf++)
                {
                    for (int i = d - 1, r = kf; i >= 0; i--) { kk[i] = r % kernel[i]; r /= kernel[i]; }
                    int pos = 0;
                    bool inside = true;
                    for (int i = 0; i < d; i++)
                    {
                        int p = o[i] * stride[i] - pad[i] + kk[i] * dil[i];
                        inside &= p >= 0 && p < spatial[i];
                        pos = pos * spatial[i] + p;
                    }
                    if (!inside) continue;
                    for (int co = 0; co < cout; co++)
                    {
                        int grp = co / og;
                        int yi = (b * outPer + op) * cout + co;
                        for (int c = 0; c < cg; c++)
                        {
                            int xi = (b * inPer + pos) * cin + grp * cg + c;
                            int wi = (co * kPer + kf) * cg + c;
                            y[yi] += x[xi] * w[wi];
                            if (ct is not null)
                            {
                                dx[xi] += ct[yi] * w[wi];
                                dw[wi] += ct[yi] * x[xi];
                            }
                        }
                    }
                }
            }
        return (y, dx, dw, new[] { n }.Concat(outSp).Append(cout).ToArray());
    }

    public record ConvCase(int[] X, int[] W, int[] Stride, int[] Pad, int[] Dil, int Groups = 1)
    {
        public override string ToString() => $"x[{string.Join(",", X)}] w[{string.Join(",", W)}] s{string.Join(",", Stride)} p{string.Join(",", Pad)} d{string.Join(",", Dil)} g{Groups}";
    }

    public static readonly ConvCase[] ConvCases =
    {
        new(new[] { 2, 9, 3 }, new[] { 4, 3, 3 }, new[] { 2 }, new[] { 1 }, new[] { 1 }),
        new(new[] { 2, 7, 6, 3 }, new[] { 5, 3, 2, 3 }, new[] { 1, 2 }, new[] { 1, 0 }, new[] { 2, 1 }),
        new(new[] { 1, 4, 5, 3, 2 }, new[] { 3, 2, 2, 2, 2 }, new[] { 1, 1, 1 }, new[] { 1, 1, 1 }, new[] { 1, 1, 1 }),
        new(new[] { 2, 6, 5, 4 }, new[] { 6, 3, 3, 2 }, new[] { 1, 1 }, new[] { 1, 1 }, new[] { 1, 1 }, Groups: 2),
        // No images; an input smaller than the kernel (no output positions).
        new(new[] { 0, 5, 5, 2 }, new[] { 3, 3, 3, 2 }, new[] { 1, 1 }, new[] { 0, 0 }, new[] { 1, 1 }),
        new(new[] { 2, 2, 3, 2 }, new[] { 3, 3, 3, 2 }, new[] { 1, 1 }, new[] { 0, 0 }, new[] { 1, 1 }),
        // Channels enough for the forward's implicit GEMM to read patches from x in place (runs of >= 32 elements).
        new(new[] { 3, 20, 40 }, new[] { 10, 3, 40 }, new[] { 1 }, new[] { 1 }, new[] { 1 }),
        new(new[] { 1, 9, 11, 33 }, new[] { 17, 3, 3, 33 }, new[] { 2, 1 }, new[] { 2, 2 }, new[] { 1, 2 }),
        new(new[] { 1, 4, 5, 9, 36 }, new[] { 5, 3, 3, 3, 36 }, new[] { 1, 1, 1 }, new[] { 1, 1, 1 }, new[] { 1, 1, 1 }),
    };

    public static IEnumerable<object[]> ConvTypeCases()
    {
        foreach (var t in FloatTypes)
            for (int c = 0; c < ConvCases.Length; c++)
                yield return new object[] { t, c };
    }

    [Theory]
    [MemberData(nameof(ConvTypeCases))]
    public void ConvForwardAndGradients(DType t, int caseIndex)
    {
        var cc = ConvCases[caseIndex];
        var (rtol, atol) = Tol(t);
        var x = Values(cc.X.Aggregate(1, (p, v) => p * v), 31 + caseIndex, t);
        var w = Values(cc.W.Aggregate(1, (p, v) => p * v), 32 + caseIndex, t);
        var (y0, _, _, outShape) = ConvReference(x, cc.X, w, cc.W, null, cc.Stride, cc.Pad, cc.Dil, cc.Groups);
        var ct = Values(y0.Length, 33 + caseIndex, t);
        var (y, dx, dw, _) = ConvReference(x, cc.X, w, cc.W, ct, cc.Stride, cc.Pad, cc.Dil, cc.Groups);
        var pads = cc.Pad.Select(p => (p, p)).ToArray();
        var xa = Mx.Array(x, cc.X, t);
        var wa = Mx.Array(w, cc.W, t);
        var r = Mx.ConvGeneral(xa, wa, cc.Stride, pads, cc.Dil, groups: cc.Groups, stream: Device);
        Assert.Equal(outShape, r.Shape);
        if (cc.Groups == 1)
        {
            AssertOnDevice(r);
        }
        H.Close(H.RoundTo(y, t), r, rtol, atol, $"{cc} {t.Name()} forward");
        MxArray[] grads;
        using (Mx.Place(Device))
        {
            grads = Mx.Vjp(v => new[] { Mx.ConvGeneral(v[0], v[1], cc.Stride, pads, cc.Dil, groups: cc.Groups) }, new[] { xa, wa },
                new[] { Mx.Array(ct, outShape, t) }).Vjps;
        }
        if (cc.Groups == 1)
        {
            AssertOnDevice(grads[0]);
            AssertOnDevice(grads[1]);
        }
        H.Close(H.RoundTo(dx, t), grads[0], rtol, atol, $"{cc} {t.Name()} dx");
        H.Close(H.RoundTo(dw, t), grads[1], rtol, atol, $"{cc} {t.Name()} dw");
    }

    [Fact]
    public void ConvOfNonContiguousInput()
    {
        // A transposed image batch: (N, W, H, C) swapped to (N, H, W, C).
        int[] shape = { 2, 5, 6, 3 };
        var x = Values(2 * 5 * 6 * 3, 41, DType.Float32);
        var w = Values(4 * 3 * 3 * 3, 42, DType.Float32);
        var xs = Mx.SwapAxes(Mx.Array(x, shape), 1, 2);
        var swapped = xs.ToArray<double>();
        var (y, _, _, _) = ConvReference(swapped, new[] { 2, 6, 5, 3 }, w, new[] { 4, 3, 3, 3 }, null, new[] { 1, 1 }, new[] { 1, 1 }, new[] { 1, 1 }, 1);
        var r = Mx.Conv2d(xs, Mx.Array(w, new[] { 4, 3, 3, 3 }), 1, 1, stream: Device);
        AssertOnDevice(r);
        H.Close(y, r, 2e-5, 2e-5, "conv of a transposed input");
    }

    [Fact]
    public void FusedAttentionMatchesTheCpuKernel()
    {
        // On the GPU stream the fused op runs the composed matmul and softmax kernels; its output stays on the device.
        foreach (var t in new[] { DType.Float32, DType.Float64 })
        {
            var q = Mx.Array(Values(4 * 5 * 3, 51, t), new[] { 1, 4, 5, 3 }, t);
            var k = Mx.Array(Values(2 * 7 * 3, 52, t), new[] { 1, 2, 7, 3 }, t);
            var v = Mx.Array(Values(2 * 7 * 2, 53, t), new[] { 1, 2, 7, 2 }, t);
            foreach (var mode in new[] { null, "causal" })
            {
                var expected = Mlx.Nn.Nn.ScaledDotProductAttention(q, k, v, 0.5, maskMode: mode).ToArray<double>();
                MxArray r;
                using (Mx.StreamScope(Device)) r = Mlx.Nn.Nn.ScaledDotProductAttention(q, k, v, 0.5, maskMode: mode);
                AssertOnDevice(r);
                var (rtol, atol) = Tol(t);
                H.Close(expected, r, rtol, atol, $"{t.Name()} {mode}");
            }
        }
    }

    [Fact]
    public void IntegerDataGivesTheSameBitsOnBothBackends()
    {
        // Small integers: every product and partial sum is exact in float32, so any summation order gives the same bits.
        var r = new Random(5);
        float[] Ints(int n) => Enumerable.Range(0, n).Select(_ => (float)r.Next(-4, 5)).ToArray();
        var a = Mx.Array(Ints(40 * 50), new[] { 40, 50 });
        var b = Mx.Array(Ints(50 * 30), new[] { 50, 30 });
        var cpu = Mx.Matmul(a, b, Device.Cpu).ToArray<float>();
        Assert.Equal(cpu, Mx.Matmul(a, b, Device).ToArray<float>());
        var exact = Product(a.ToArray<double>(), b.ToArray<double>(), 40, 50, 30).Select(v => (float)v).ToArray();
        Assert.Equal(exact, cpu);
        var x = Mx.Array(Ints(2 * 7 * 7 * 3), new[] { 2, 7, 7, 3 });
        var w = Mx.Array(Ints(4 * 3 * 3 * 3), new[] { 4, 3, 3, 3 });
        Assert.Equal(Mx.Conv2d(x, w, 2, 1, stream: Device.Cpu).ToArray<float>(), Mx.Conv2d(x, w, 2, 1, stream: Device).ToArray<float>());
    }
}

public sealed class CpuLinalg : LinalgSuite
{
    protected override Device Device => Device.Cpu;
}

public sealed class GpuLinalg : LinalgSuite
{
    protected override Device Device => Backends.Gpu;
}
