using Mlx.Nn;

namespace Mlx.Core.Tests.Nn;

public class AttentionTests
{
    // out[b, i, :] = Wo · concat_h(softmax_j(q_h[i]·k_h[j] / sqrt(dh) + mask[i, j]) v_h[j]); projections without bias.
    private static double[] AttentionByHand(Dictionary<string, double[]> p, double[] q, double[] k, double[] v, int b, int lq, int lk, int dims, int heads,
        Func<int, int, double>? mask)
    {
        double[] Proj(string name, double[] x, int rows, int outDim, int inDim)
        {
            var w = p[name + ".weight"];
            var r = new double[rows * outDim];
            for (int i = 0; i < rows; i++) for (int o = 0; o < outDim; o++)
            {
                double s = 0;
                for (int j = 0; j < inDim; j++) s += x[i * inDim + j] * w[o * inDim + j];
                r[i * outDim + o] = s;
            }
            return r;
        }
        var Q = Proj("query_proj", q, b * lq, dims, dims);
        var K = Proj("key_proj", k, b * lk, dims, dims);
        var V = Proj("value_proj", v, b * lk, dims, dims);
        int dh = dims / heads;
        var concat = new double[b * lq * dims];
        for (int n = 0; n < b; n++)
        for (int h = 0; h < heads; h++)
        for (int i = 0; i < lq; i++)
        {
            var scores = new double[lk];
            for (int j = 0; j < lk; j++)
            {
                double s = 0;
                for (int e = 0; e < dh; e++) s += Q[(n * lq + i) * dims + h * dh + e] * K[(n * lk + j) * dims + h * dh + e];
                scores[j] = s / Math.Sqrt(dh) + (mask?.Invoke(i, j) ?? 0);
            }
            double max = scores.Max();
            var ex = scores.Select(s => Math.Exp(s - max)).ToArray();
            double sum = ex.Sum();
            for (int e = 0; e < dh; e++)
            {
                double acc = 0;
                for (int j = 0; j < lk; j++) acc += ex[j] / sum * V[(n * lk + j) * dims + h * dh + e];
                concat[(n * lq + i) * dims + h * dh + e] = acc;
            }
        }
        return Proj("out_proj", concat, b * lq, dims, dims);
    }

    [Fact]
    public void MultiHeadAttentionIsSoftmaxOfScaledProductsTimesValues()
    {
        int b = 2, lq = 3, lk = 4, dims = 6, heads = 2;
        var mha = new MultiHeadAttention(dims, heads);
        Assert.Equal(new[] { "query_proj.weight", "key_proj.weight", "value_proj.weight", "out_proj.weight" }, mha.Parameters().Keys.ToArray());
        var p = L.Randomize(mha, 100);
        var q = H.Rand(b * lq * dims, 101);
        var k = H.Rand(b * lk * dims, 102);
        var v = H.Rand(b * lk * dims, 103);
        var y = mha.Forward(L.A(q, b, lq, dims), L.A(k, b, lk, dims), L.A(v, b, lk, dims));
        Assert.Equal(new[] { b, lq, dims }, y.Shape);
        H.Close(AttentionByHand(p, q, k, v, b, lq, lk, dims, heads, null), y, 1e-10, 1e-10);

        // Additive mask (broadcast over batch and heads) and the equivalent boolean mask.
        var additive = H.Rand(lq * lk, 104, -3, 3);
        var ym = mha.Forward(L.A(q, b, lq, dims), L.A(k, b, lk, dims), L.A(v, b, lk, dims), L.A(additive, lq, lk));
        H.Close(AttentionByHand(p, q, k, v, b, lq, lk, dims, heads, (i, j) => additive[i * lk + j]), ym, 1e-10, 1e-10);
        var keep = Mx.Array(Enumerable.Range(0, lq * lk).Select(t => t % 3 != 1).ToArray(), new[] { lq, lk });
        var yb = mha.Forward(L.A(q, b, lq, dims), L.A(k, b, lk, dims), L.A(v, b, lk, dims), keep);
        H.Close(AttentionByHand(p, q, k, v, b, lq, lk, dims, heads, (i, j) => (i * lk + j) % 3 != 1 ? 0 : double.NegativeInfinity), yb, 1e-10, 1e-10);
    }

    [Fact]
    public void CausalMaskAndCausalModeAgree()
    {
        var mask = MultiHeadAttention.CreateAdditiveCausalMask(3).ToArray<float>();
        Assert.Equal(new float[] { 0, float.MinValue, float.MinValue, 0, 0, float.MinValue, 0, 0, 0 }, mask);
        Assert.Equal(DType.Float16, MultiHeadAttention.CreateAdditiveCausalMask(2, DType.Float16).DType);

        int b = 1, l = 4, dims = 4, heads = 2;
        var mha = new MultiHeadAttention(dims, heads, bias: true);
        Assert.Equal(8, mha.Parameters().Count);
        L.Randomize(mha, 110);
        var x = L.A(H.Rand(b * l * dims, 111), b, l, dims);
        var causal = mha.Forward(x, x, x, MultiHeadAttention.CreateAdditiveCausalMask(l, DType.Float64));
        H.Close(causal.ToArray<double>(), mha.Forward(x, x, x, maskMode: "causal"), 1e-12, 1e-12);
        // Row i only sees keys 0..i: the first i+1 rows equal attention over the first i+1 positions.
        for (int i = 1; i <= l; i++)
        {
            var prefix = Mx.Slice(x, new[] { 0, 0, 0 }, new[] { 1, i, dims });
            var full = mha.Forward(prefix).ToArray<double>();
            var row = Mx.Slice(causal, new[] { 0, i - 1, 0 }, new[] { 1, i, dims }).ToArray<double>();
            H.Close(full.Skip((i - 1) * dims).ToArray(), row, 1e-10, 1e-10);
        }
    }

    [Fact]
    public void ScaledDotProductAttentionHandlesGroupedHeadsCausalModeAndSinks()
    {
        int b = 1, hq = 4, hkv = 2, lq = 2, lk = 3, d = 2;
        var q = H.Rand(b * hq * lq * d, 120);
        var k = H.Rand(b * hkv * lk * d, 121);
        var v = H.Rand(b * hkv * lk * d, 122);
        double scale = 0.7;
        var sinks = new double[] { 0.5, -1, 2, 0 };
        foreach (var (mode, useSinks) in new[] { ((string?)null, false), ("causal", false), ("causal", true) })
        {
            var y = Mlx.Nn.Nn.ScaledDotProductAttention(L.A(q, b, hq, lq, d), L.A(k, b, hkv, lk, d), L.A(v, b, hkv, lk, d), scale,
                maskMode: mode, sinks: useSinks ? Mx.Array(sinks) : null);
            var expected = new List<double>();
            for (int h = 0; h < hq; h++)
            {
                int kh = h / (hq / hkv);
                for (int i = 0; i < lq; i++)
                {
                    var s = new List<double>();
                    for (int j = 0; j < lk; j++)
                    {
                        double dot = 0;
                        for (int e = 0; e < d; e++) dot += q[(h * lq + i) * d + e] * k[(kh * lk + j) * d + e];
                        bool visible = mode != "causal" || j <= i + (lk - lq);
                        s.Add(visible ? dot * scale : double.NegativeInfinity);
                    }
                    double sink = useSinks ? sinks[h] : double.NegativeInfinity;
                    double max = Math.Max(s.Max(), sink);
                    double denom = s.Sum(t => Math.Exp(t - max)) + Math.Exp(sink - max);
                    for (int e = 0; e < d; e++) expected.Add(Enumerable.Range(0, lk).Sum(j => Math.Exp(s[j] - max) / denom * v[(kh * lk + j) * d + e]));
                }
            }
            H.Close(expected, y, 1e-12, 1e-12, $"mode {mode}, sinks {useSinks}");
        }
    }

    [Fact]
    public void AttentionGradientMatchesFiniteDifferences()
    {
        var mha = new MultiHeadAttention(4, 2);
        L.Randomize(mha, 130);
        var w = Mx.Array(H.Rand(2 * 3 * 4, 131), new[] { 2, 3, 4 });
        var mask = MultiHeadAttention.CreateAdditiveCausalMask(3, DType.Float64);
        L.CheckGrad(x => Mx.Sum(Mx.Multiply(mha.Forward(x, x, x, mask), w)), H.Rand(24, 132), new[] { 2, 3, 4 });
    }

    [Fact]
    public void TransformerParametersAreNamedAsMlx()
    {
        var t = new Transformer(dims: 8, numHeads: 2, numEncoderLayers: 2, numDecoderLayers: 1, mlpDims: 16);
        var names = t.Parameters().Keys.ToHashSet();
        Assert.Contains("encoder.layers.0.attention.query_proj.weight", names);
        Assert.Contains("encoder.layers.1.ln2.bias", names);
        Assert.Contains("encoder.layers.1.linear1.weight", names);
        Assert.Contains("encoder.ln.weight", names);
        Assert.Contains("decoder.layers.0.self_attention.out_proj.weight", names);
        Assert.Contains("decoder.layers.0.cross_attention.key_proj.weight", names);
        Assert.Contains("decoder.layers.0.ln3.weight", names);
        Assert.Contains("decoder.layers.0.linear2.bias", names);
        Assert.DoesNotContain("decoder.layers.1.ln1.weight", names);
        // 2 encoder layers: 4 attention + 2 x 2 ln + 2 x 2 linear = 12 each; decoder layer: 8 + 6 + 4 = 18; two final norms: 4.
        Assert.Equal(2 * 12 + 18 + 4, names.Count);
        Assert.Equal(new[] { 16, 8 }, t.Parameters()["encoder.layers.0.linear1.weight"].Shape);
        var y = t.Forward(Mx.Ones(new[] { 2, 5, 8 }), Mx.Ones(new[] { 2, 3, 8 }), null, MultiHeadAttention.CreateAdditiveCausalMask(3), null);
        Assert.Equal(new[] { 2, 3, 8 }, y.Shape);
        // Names are the loading keys: an update by name reaches the nested layer.
        t.Update(new Dictionary<string, MxArray> { ["decoder.layers.0.ln3.bias"] = Mx.Full(new[] { 8 }, 2.0) });
        Assert.Equal(2f, ((TransformerDecoder)t.Decoder).Layers[0].Parameters()["ln3.bias"].ToArray<float>()[0]);
        // Custom modules (even without parameters) replace the defaults.
        var custom = new Transformer(8, 2, customEncoder: new Identity(), customDecoder: new Identity());
        Assert.IsType<Identity>(custom.Encoder);
        Assert.Empty(custom.Parameters());
        Assert.Equal(new[] { 1, 3, 8 }, custom.Forward(Mx.Ones(new[] { 1, 2, 8 }), Mx.Ones(new[] { 1, 3, 8 }), null, null, null).Shape);
    }

    [Fact]
    public void CheckpointedEncoderAndDecoderGiveTheSameValuesAndGradients()
    {
        var plain = new Transformer(dims: 4, numHeads: 2, numEncoderLayers: 2, numDecoderLayers: 2, mlpDims: 8);
        var ckpt = new Transformer(dims: 4, numHeads: 2, numEncoderLayers: 2, numDecoderLayers: 2, mlpDims: 8, checkpoint: true);
        var values = L.Randomize(plain, 200);
        ckpt.Update(values.ToDictionary(kv => kv.Key, kv => Mx.Array(kv.Value, plain.Parameters()[kv.Key].Shape)));
        var src = L.A(H.Rand(2 * 3 * 4, 201), 2, 3, 4);
        var tgt = L.A(H.Rand(2 * 2 * 4, 202), 2, 2, 4);
        var mask = MultiHeadAttention.CreateAdditiveCausalMask(2, DType.Float64);
        MxArray Loss(Transformer t) => Mx.Sum(Mx.Square(t.Forward(src, tgt, null, mask, null)));
        var (l1, g1) = Mlx.Nn.Nn.ValueAndGrad(plain, _ => Loss(plain))(Array.Empty<MxArray>());
        var (l2, g2) = Mlx.Nn.Nn.ValueAndGrad(ckpt, _ => Loss(ckpt))(Array.Empty<MxArray>());
        Assert.Equal(l1.Item<double>(), l2.Item<double>(), 12);
        Assert.Equal(g1.Keys.ToArray(), g2.Keys.ToArray());
        foreach (var k in g1.Keys) H.Close(g1[k].ToArray<double>(), g2[k], 1e-10, 1e-12, k);
        Assert.Contains(g2["encoder.layers.0.attention.query_proj.weight"].ToArray<double>(), v => v != 0);
        // The module holds its own parameters again afterwards.
        H.Close(values["decoder.layers.1.linear1.weight"], ckpt.Parameters()["decoder.layers.1.linear1.weight"], 0, 0);
    }

    private static MxArray Ln(MxArray x, Dictionary<string, double[]> p, string name)
    {
        var mean = Mx.Mean(x, -1, keepDims: true);
        var var = Mx.Mean(Mx.Square(Mx.Subtract(x, mean)), -1, keepDims: true);
        var y = Mx.Divide(Mx.Subtract(x, mean), Mx.Sqrt(Mx.Add(var, 1e-5)));
        return Mx.Add(Mx.Multiply(y, Mx.Array(p[name + ".weight"])), Mx.Array(p[name + ".bias"]));
    }

    private static MxArray Lin(MxArray x, Dictionary<string, double[]> p, string name, int outDim, int inDim) =>
        Mx.Add(Mx.Matmul(x, Mx.Transpose(Mx.Array(p[name + ".weight"], new[] { outDim, inDim }))), Mx.Array(p[name + ".bias"]));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EncoderLayerComposesAttentionNormAndMlp(bool normFirst)
    {
        int b = 1, l = 3, dims = 4, mlp = 6;
        var layer = new TransformerEncoderLayer(dims, 2, mlp, activation: Mlx.Nn.Nn.Gelu, normFirst: normFirst);
        var p = L.Randomize(layer, 140);
        var xs = H.Rand(b * l * dims, 141);
        var x = L.A(xs, b, l, dims);
        var mask = L.A(H.Rand(l * l, 142), l, l);
        var y = layer.Forward(x, mask);
        // The attention block by hand (its prefix-free parameter names).
        var attnParams = p.Where(kv => kv.Key.StartsWith("attention.")).ToDictionary(kv => kv.Key["attention.".Length..], kv => kv.Value);
        var maskValues = mask.ToArray<double>();
        MxArray Attn(MxArray input)
        {
            var data = input.ToArray<double>();
            return L.A(AttentionByHand(attnParams, data, data, data, b, l, l, dims, 2, (i, j) => maskValues[i * l + j]), b, l, dims);
        }
        MxArray Mlp(MxArray input) => Lin(Mlx.Nn.Nn.Gelu(Lin(input, p, "linear1", mlp, dims)), p, "linear2", dims, mlp);
        MxArray expected;
        if (normFirst)
        {
            var h = Mx.Add(x, Attn(Ln(x, p, "ln1")));
            expected = Mx.Add(h, Mlp(Ln(h, p, "ln2")));
        }
        else
        {
            var h = Ln(Mx.Add(x, Attn(x)), p, "ln1");
            expected = Ln(Mx.Add(h, Mlp(h)), p, "ln2");
        }
        H.Close(expected.ToArray<double>(), y, 1e-9, 1e-9);
    }

    [Fact]
    public void DecoderLayerPostNormComposesSelfAndCrossAttention()
    {
        int l = 2, m = 3, dims = 4;
        var layer = new TransformerDecoderLayer(dims, 1, 4, normFirst: false);
        var p = L.Randomize(layer, 150);
        var x = L.A(H.Rand(l * dims, 151), 1, l, dims);
        var mem = L.A(H.Rand(m * dims, 152), 1, m, dims);
        var y = layer.Forward(x, mem, null, null);
        Dictionary<string, double[]> Sub(string prefix) => p.Where(kv => kv.Key.StartsWith(prefix + ".")).ToDictionary(kv => kv.Key[(prefix.Length + 1)..], kv => kv.Value);
        MxArray Attn(string name, MxArray q, MxArray kv, int lk) =>
            L.A(AttentionByHand(Sub(name), q.ToArray<double>(), kv.ToArray<double>(), kv.ToArray<double>(), 1, l, lk, dims, 1, null), 1, l, dims);
        var h1 = Ln(Mx.Add(x, Attn("self_attention", x, x, l)), p, "ln1");
        var h2 = Ln(Mx.Add(h1, Attn("cross_attention", h1, mem, m)), p, "ln2");
        var expected = Ln(Mx.Add(h2, Lin(Mlx.Nn.Nn.Relu(Lin(h2, p, "linear1", 4, dims)), p, "linear2", dims, 4)), p, "ln3");
        H.Close(expected.ToArray<double>(), y, 1e-9, 1e-9);
    }
}
