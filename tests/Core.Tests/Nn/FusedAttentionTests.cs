namespace Mlx.Core.Tests.Nn;

/// <summary>The fused scaled-dot-product attention op against plain loops, the composed ops and finite differences.</summary>
public class FusedAttentionTests
{
    private static MxArray Sdpa(MxArray q, MxArray k, MxArray v, double scale, bool causal) =>
        Mlx.Nn.Nn.ScaledDotProductAttention(q, k, v, scale, maskMode: causal ? "causal" : null);

    private static MxArray Composed(MxArray q, MxArray k, MxArray v, double scale, bool causal) =>
        Mlx.Nn.Nn.ComposedAttention(q, k, v, scale, null, causal, null);

    // out[b,h,i,:] = sum_j softmax_j(scale q_i·k_j over visible j) v_j, head h reading key head h / (hq / hkv); a row
    // that sees no key averages all of V (the softmax of equal masked scores).
    private static double[] Reference(double[] q, double[] k, double[] v, int b, int hq, int hkv, int lq, int lk, int d, int dv, double scale, bool causal)
    {
        var o = new double[b * hq * lq * dv];
        for (int n = 0; n < b; n++)
        for (int h = 0; h < hq; h++)
        {
            int kh = n * hkv + h / (hq / hkv);
            for (int i = 0; i < lq; i++)
            {
                var s = new double[lk];
                int seen = causal ? Math.Clamp(i + lk - lq + 1, 0, lk) : lk;
                for (int j = 0; j < lk; j++)
                {
                    double dot = 0;
                    for (int e = 0; e < d; e++) dot += q[((n * hq + h) * lq + i) * d + e] * k[(kh * lk + j) * d + e];
                    s[j] = seen == 0 ? 0 : j < seen ? dot * scale : double.NegativeInfinity;
                }
                double max = lk == 0 ? 0 : s.Max();
                double sum = s.Sum(t => Math.Exp(t - max));
                for (int e = 0; e < dv; e++)
                {
                    double acc = 0;
                    for (int j = 0; j < lk; j++) acc += Math.Exp(s[j] - max) / sum * v[(kh * lk + j) * dv + e];
                    o[((n * hq + h) * lq + i) * dv + e] = acc;
                }
            }
        }
        return o;
    }

    public static IEnumerable<object[]> Sizes() =>
        from lq in new[] { 1, 7, 33, 130 }
        from lk in new[] { 1, 7, 33, 130 }
        from d in new[] { 1, 17, 64 }
        select new object[] { lq, lk, d };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void MatchesLoopsOnOddSizesWithGroupedHeads(int lq, int lk, int d)
    {
        int b = 2, hq = 4, hkv = 2, dv = d == 17 ? 5 : d;
        var q = H.Rand(b * hq * lq * d, 300 + lq);
        var k = H.Rand(b * hkv * lk * d, 400 + lk);
        var v = H.Rand(b * hkv * lk * dv, 500 + d);
        double scale = 1 / Math.Sqrt(d);
        foreach (var dtype in new[] { DType.Float64, DType.Float32 })
        {
            foreach (bool causal in new[] { false, true })
            {
                var y = Sdpa(Mx.Array(q, new[] { b, hq, lq, d }, dtype), Mx.Array(k, new[] { b, hkv, lk, d }, dtype), Mx.Array(v, new[] { b, hkv, lk, dv }, dtype), scale, causal);
                Assert.IsType<ScaledDotProductAttentionPrimitive>(y.PendingNode!.Primitive);
                Assert.Equal(dtype, y.DType);
                Assert.Equal(new[] { b, hq, lq, dv }, y.Shape);
                double tol = dtype == DType.Float64 ? 1e-12 : 2e-5;
                H.Close(Reference(q, k, v, b, hq, hkv, lq, lk, d, dv, scale, causal), y, tol, tol, $"{dtype} causal {causal}");
            }
        }
    }

    [Fact]
    public void ReadsTransposedViewsAndKeepsHeadsWithoutGrouping()
    {
        int b = 2, h = 3, lq = 9, lk = 70, d = 6, dv = 4;
        var q = H.Rand(b * h * lq * d, 601);
        var k = H.Rand(b * h * lk * d, 602);
        var v = H.Rand(b * h * lk * dv, 603);
        foreach (var dtype in new[] { DType.Float64, DType.Float32 })
        {
            // Q stored (B, D, L, H), K stored (B, H, D, L), V stored (H, B, D_v, L): each read through a transposed view.
            var qv = Mx.SwapAxes(Mx.Contiguous(Mx.SwapAxes(Mx.Array(q, new[] { b, h, lq, d }, dtype), 1, 3)), 1, 3);
            var kv = Mx.SwapAxes(Mx.Contiguous(Mx.SwapAxes(Mx.Array(k, new[] { b, h, lk, d }, dtype), 2, 3)), 2, 3);
            var swap = new[] { 1, 0, 3, 2 };
            var vv = Mx.Transpose(Mx.Contiguous(Mx.Transpose(Mx.Array(v, new[] { b, h, lk, dv }, dtype), swap)), swap);
            Mx.Eval(qv, kv, vv);
            Assert.False(qv.IsRowContiguous);
            Assert.False(kv.IsRowContiguous);
            Assert.False(vv.IsRowContiguous);
            foreach (bool causal in new[] { false, true })
            {
                double tol = dtype == DType.Float64 ? 1e-12 : 2e-5;
                H.Close(Reference(q, k, v, b, h, h, lq, lk, d, dv, 0.3, causal), Sdpa(qv, kv, vv, 0.3, causal), tol, tol, $"{dtype} causal {causal}");
            }
        }
    }

    [Fact]
    public void MasksAndSinksStillTakeTheComposedPath()
    {
        var q = Mx.Ones(new[] { 1, 1, 2, 3 });
        Assert.IsNotType<ScaledDotProductAttentionPrimitive>(Mlx.Nn.Nn.ScaledDotProductAttention(q, q, q, 1, mask: Mx.Ones(new[] { 2, 2 })).PendingNode!.Primitive);
        Assert.IsNotType<ScaledDotProductAttentionPrimitive>(Mlx.Nn.Nn.ScaledDotProductAttention(q, q, q, 1, sinks: Mx.Zeros(new[] { 1 })).PendingNode!.Primitive);
        var half = Mx.AsType(q, DType.Float16);
        Assert.IsNotType<ScaledDotProductAttentionPrimitive>(Mlx.Nn.Nn.ScaledDotProductAttention(half, half, half, 1).PendingNode!.Primitive);
        var a = Sdpa(q, q, q, 0.5, true);
        Assert.True(a.PendingNode!.Primitive.IsEquivalent(Sdpa(q, q, q, 0.5, true).PendingNode!.Primitive));
        Assert.False(a.PendingNode!.Primitive.IsEquivalent(Sdpa(q, q, q, 0.5, false).PendingNode!.Primitive));
        Assert.False(a.PendingNode!.Primitive.IsEquivalent(Sdpa(q, q, q, 0.25, true).PendingNode!.Primitive));
    }

    // (b, hq, hkv, lq, lk, d, dv): plain, grouped, and causal with more queries than keys (rows that see no key).
    public static IEnumerable<object[]> GradCases() => new[]
    {
        new object[] { 1, 2, 2, 3, 4, 2, 3 },
        new object[] { 2, 4, 2, 3, 5, 3, 2 },
        new object[] { 1, 2, 1, 5, 2, 2, 2 },
    };

    [Theory]
    [MemberData(nameof(GradCases))]
    public void GradientMatchesFiniteDifferences(int b, int hq, int hkv, int lq, int lk, int d, int dv)
    {
        var qs = new[] { b, hq, lq, d };
        var ks = new[] { b, hkv, lk, d };
        var vs = new[] { b, hkv, lk, dv };
        var q = Mx.Array(H.Rand(b * hq * lq * d, 700), qs);
        var k = Mx.Array(H.Rand(b * hkv * lk * d, 701), ks);
        var v = Mx.Array(H.Rand(b * hkv * lk * dv, 702), vs);
        var w = Mx.Array(H.Rand(b * hq * lq * dv, 703), new[] { b, hq, lq, dv });
        foreach (bool causal in new[] { false, true })
        {
            MxArray Loss(MxArray qq, MxArray kk, MxArray vv) => Mx.Sum(Mx.Multiply(Sdpa(qq, kk, vv, 0.8, causal), w));
            L.CheckGrad(x => Loss(x, k, v), q.ToArray<double>(), qs);
            L.CheckGrad(x => Loss(q, x, v), k.ToArray<double>(), ks);
            L.CheckGrad(x => Loss(q, k, x), v.ToArray<double>(), vs);
        }
    }

    [Theory]
    [MemberData(nameof(GradCases))]
    public void GradientsAndJvpMatchTheComposedOps(int b, int hq, int hkv, int lq, int lk, int d, int dv)
    {
        // Larger than the finite-difference cases: many rows and keys per block.
        lq *= 11;
        lk *= 13;
        var q = Mx.Array(H.Rand(b * hq * lq * d, 710), new[] { b, hq, lq, d });
        var k = Mx.Array(H.Rand(b * hkv * lk * d, 711), new[] { b, hkv, lk, d });
        var v = Mx.Array(H.Rand(b * hkv * lk * dv, 712), new[] { b, hkv, lk, dv });
        var w = Mx.Array(H.Rand(b * hq * lq * dv, 713), new[] { b, hq, lq, dv });
        var primals = new[] { q, k, v };
        var tangents = new[] { Mx.Array(H.Rand(b * hq * lq * d, 714), q.Shape), Mx.Array(H.Rand(b * hkv * lk * d, 715), k.Shape), Mx.Array(H.Rand(b * hkv * lk * dv, 716), v.Shape) };
        foreach (bool causal in new[] { false, true })
        {
            Func<MxArray[], MxArray> Loss(Func<MxArray, MxArray, MxArray, double, bool, MxArray> attn) => a => Mx.Sum(Mx.Multiply(attn(a[0], a[1], a[2], 0.6, causal), w));
            var fused = Mx.Grad(Loss(Sdpa), new[] { 0, 1, 2 })(primals);
            var composed = Mx.Grad(Loss(Composed), new[] { 0, 1, 2 })(primals);
            for (int i = 0; i < 3; i++) H.Close(composed[i].ToArray<double>(), fused[i], 1e-11, 1e-12, $"grad {i}, causal {causal}");

            // Tangents of all inputs, and of the values alone.
            foreach (var argnums in new[] { new[] { 0, 1, 2 }, new[] { 2 }, new[] { 1 } })
            {
                Func<MxArray[], MxArray[]> F(Func<MxArray, MxArray, MxArray, double, bool, MxArray> attn) => a =>
                {
                    var x = (MxArray[])primals.Clone();
                    for (int j = 0; j < argnums.Length; j++) x[argnums[j]] = a[j];
                    return new[] { attn(x[0], x[1], x[2], 0.6, causal) };
                };
                var p = argnums.Select(j => primals[j]).ToArray();
                var t = argnums.Select(j => tangents[j]).ToArray();
                var jf = Mx.Jvp(F(Sdpa), p, t).Jvps[0];
                var jc = Mx.Jvp(F(Composed), p, t).Jvps[0];
                H.Close(jc.ToArray<double>(), jf, 1e-11, 1e-12, $"jvp [{string.Join(",", argnums)}], causal {causal}");
            }
        }
    }

    [Fact]
    public void VmapFoldsTheMappedAxisIntoTheBatch()
    {
        int n = 3, b = 2, hq = 4, hkv = 2, lq = 5, lk = 6, d = 3;
        var q = Mx.Array(H.Rand(n * b * hq * lq * d, 800), new[] { n, b, hq, lq, d });
        var k = Mx.Array(H.Rand(b * hkv * lk * d, 801), new[] { b, hkv, lk, d });
        // V mapped along its last axis.
        var v = Mx.Array(H.Rand(b * hkv * lk * d * n, 802), new[] { b, hkv, lk, d, n });
        foreach (bool causal in new[] { false, true })
        {
            int fallbacks = Mx.VmapLoopFallbacks;
            var mapped = Mx.Vmap(a => new[] { Sdpa(a[0], a[1], a[2], 0.5, causal) }, new int?[] { 0, null, 4 })(new[] { q, k, v })[0];
            Assert.Equal(fallbacks, Mx.VmapLoopFallbacks);
            Assert.Equal(new[] { n, b, hq, lq, d }, mapped.Shape);
            var loop = Mx.Stack(Enumerable.Range(0, n).Select(i =>
                Sdpa(Mx.Take(q, Mx.Array(i), 0), k, Mx.Take(v, Mx.Array(i), 4), 0.5, causal)).ToArray(), 0);
            H.Close(loop.ToArray<double>(), mapped, 1e-13, 1e-13, $"causal {causal}");
        }
    }
}
