using Mlx.Nn;

namespace Mlx.Core.Tests.Nn;

public class NormalizationTests
{
    // x (N, S, C) flattened row-major; normalizes the elements with the same (n, group(c)).
    private static double[] GroupNormByHand(double[] x, int n, int s, int c, Func<int, int> group, int groups, double eps)
    {
        var y = new double[x.Length];
        for (int b = 0; b < n; b++)
        {
            for (int g = 0; g < groups; g++)
            {
                var idx = new List<int>();
                for (int i = 0; i < s; i++) for (int ch = 0; ch < c; ch++) if (group(ch) == g) idx.Add((b * s + i) * c + ch);
                double mean = idx.Average(k => x[k]);
                double var = idx.Average(k => (x[k] - mean) * (x[k] - mean));
                foreach (var k in idx) y[k] = (x[k] - mean) / Math.Sqrt(var + eps);
            }
        }
        return y;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GroupNormMatchesStatisticsByHand(bool pytorchCompatible)
    {
        int n = 2, h = 3, w = 2, c = 6, groups = 3;
        var x = H.Rand(n * h * w * c, 5);
        var gn = new GroupNorm(groups, c, pytorchCompatible: pytorchCompatible);
        Assert.Equal(new[] { "bias", "weight" }, gn.Parameters().Keys.ToArray());
        var weight = H.Rand(c, 6);
        var bias = H.Rand(c, 7);
        L.Set(gn, "weight", weight, c);
        L.Set(gn, "bias", bias, c);
        var y = gn.Forward(L.A(x, n, h, w, c));
        Assert.Equal(new[] { n, h, w, c }, y.Shape);
        Func<int, int> group = pytorchCompatible ? ch => ch / (c / groups) : ch => ch % groups;
        var expected = GroupNormByHand(x, n, h * w, c, group, groups, 1e-5);
        for (int i = 0; i < expected.Length; i++) expected[i] = expected[i] * weight[i % c] + bias[i % c];
        H.Close(expected, y, 1e-10, 1e-10);
    }

    [Fact]
    public void GroupNormWithoutAffineHasNoParametersAndRejectsBadGroups()
    {
        Assert.Empty(new GroupNorm(2, 4, affine: false).Parameters());
        Assert.Throws<ArgumentException>(() => new GroupNorm(3, 4));
    }

    [Fact]
    public void InstanceNormNormalizesEachChannelOverSpace()
    {
        int n = 2, s = 5, c = 3;
        var x = H.Rand(n * s * c, 8);
        var norm = new InstanceNorm(c);
        Assert.Empty(norm.Parameters());
        var y = norm.Forward(L.A(x, n, s, c));
        var expected = GroupNormByHand(x, n, s, c, ch => ch, c, 1e-5);
        H.Close(expected, y, 1e-10, 1e-10);
        var affine = new InstanceNorm(c, affine: true);
        Assert.Equal(new[] { "weight", "bias" }, affine.Parameters().Keys.ToArray());
        Assert.Throws<ArgumentException>(() => norm.Forward(L.A(new double[] { 1, 2 }, 1, 2)));
    }

    [Fact]
    public void BatchNormUsesBatchStatisticsInTrainingAndUpdatesRunningStats()
    {
        int n = 4, l = 3, c = 2;
        var x = H.Rand(n * l * c, 9);
        var bn = new BatchNorm(c);
        Assert.Equal(new[] { "weight", "bias", "running_mean", "running_var" }, bn.Parameters().Keys.ToArray());
        Assert.Equal(new[] { "weight", "bias" }, bn.TrainableParameters().Keys.ToArray());
        var y = bn.Forward(L.A(x, n, l, c));
        var mean = new double[c];
        var var = new double[c];
        var unbiased = new double[c];
        int m = n * l;
        for (int ch = 0; ch < c; ch++)
        {
            var vals = Enumerable.Range(0, m).Select(i => x[i * c + ch]).ToArray();
            mean[ch] = vals.Average();
            var[ch] = vals.Average(v => (v - mean[ch]) * (v - mean[ch]));
            unbiased[ch] = var[ch] * m / (m - 1);
        }
        var expected = x.Select((v, i) => (v - mean[i % c]) / Math.Sqrt(var[i % c] + 1e-5)).ToArray();
        H.Close(expected, y, 1e-10, 1e-10);
        var ps = bn.Parameters();
        H.Close(mean.Select(v => 0.1 * v).ToArray(), ps["running_mean"], 1e-6, 1e-7);
        H.Close(unbiased.Select(v => 0.9 + 0.1 * v).ToArray(), ps["running_var"], 1e-6, 1e-7);

        // Eval mode: the running statistics normalize.
        bn.Eval();
        var rm = ps["running_mean"].ToArray<double>();
        var rv = ps["running_var"].ToArray<double>();
        var z = bn.Forward(L.A(x, n, l, c));
        H.Close(x.Select((v, i) => (v - rm[i % c]) / Math.Sqrt(rv[i % c] + 1e-5)).ToArray(), z, 1e-6, 1e-6);
        // ... and are not updated.
        H.Close(rm, bn.Parameters()["running_mean"], 0, 0);
    }

    [Fact]
    public void BatchNormRunningStatsStayFrozenAfterUnfreeze()
    {
        var model = new Sequential(new Linear(3, 2), new BatchNorm(2));
        model.Freeze();
        Assert.Empty(model.TrainableParameters());
        model.Unfreeze();
        Assert.Equal(new[] { "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias" }, model.TrainableParameters().Keys.ToArray());
        Assert.Throws<ArgumentException>(() => new BatchNorm(2).Forward(Mx.Ones(new[] { 1, 2 })));
        Assert.Equal(new[] { "weight", "bias" }, new BatchNorm(2, trackRunningStats: false).Parameters().Keys.ToArray());
    }

    [Fact]
    public void BatchNormInsideValueAndGradUpdatesRunningStatsAndGivesAffineGradients()
    {
        int n = 6, c = 3;
        var x = H.Rand(n * c, 13);
        var bn = new BatchNorm(c);
        var vg = Mlx.Nn.Nn.ValueAndGrad(bn, a => Mx.Sum(Mx.Multiply(bn.Forward(a[0]), a[1])));
        var upstream = H.Rand(n * c, 14);
        var (_, grads) = vg(new[] { L.A(x, n, c), L.A(upstream, n, c) });
        Assert.Equal(new[] { "weight", "bias" }, grads.Keys.ToArray());
        var mean = Enumerable.Range(0, c).Select(ch => Enumerable.Range(0, n).Average(i => x[i * c + ch])).ToArray();
        var var = Enumerable.Range(0, c).Select(ch => Enumerable.Range(0, n).Average(i => Math.Pow(x[i * c + ch] - mean[ch], 2))).ToArray();
        // d/dweight = sum over the batch of upstream * xhat; d/dbias = sum of upstream.
        var gw = Enumerable.Range(0, c).Select(ch => Enumerable.Range(0, n).Sum(i => upstream[i * c + ch] * (x[i * c + ch] - mean[ch]) / Math.Sqrt(var[ch] + 1e-5))).ToArray();
        var gb = Enumerable.Range(0, c).Select(ch => Enumerable.Range(0, n).Sum(i => upstream[i * c + ch])).ToArray();
        H.Close(gw, grads["weight"], 1e-6, 1e-6); // float32 parameters
        H.Close(gb, grads["bias"], 1e-6, 1e-6);
        // The running mean was updated by the traced forward pass and reads back as a plain value.
        H.Close(mean.Select(v => 0.1 * v).ToArray(), bn.Parameters()["running_mean"], 1e-6, 1e-7);
    }

    [Fact]
    public void GroupNormAndBatchNormGradientsMatchFiniteDifferences()
    {
        var gn = new GroupNorm(2, 4, pytorchCompatible: true);
        L.Randomize(gn, 3);
        var w = Mx.Array(H.Rand(2 * 3 * 4, 4), new[] { 2, 3, 4 });
        L.CheckGrad(x => Mx.Sum(Mx.Multiply(gn.Forward(x), w)), H.Rand(24, 11), new[] { 2, 3, 4 });
        var bn = new BatchNorm(4, trackRunningStats: false);
        L.Randomize(bn, 5);
        L.CheckGrad(x => Mx.Sum(Mx.Multiply(bn.Forward(x), w)), H.Rand(24, 12), new[] { 2, 3, 4 });
    }
}
