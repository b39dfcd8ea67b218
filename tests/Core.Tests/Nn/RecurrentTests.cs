using Mlx.Nn;

namespace Mlx.Core.Tests.Nn;

public class RecurrentTests
{
    // y = W v (+ b): W (rows, cols) row-major.
    private static double[] MatVec(double[] w, int rows, int cols, double[] v, int offset = 0)
    {
        var r = new double[rows];
        for (int i = 0; i < rows; i++)
        {
            double s = 0;
            for (int j = 0; j < cols; j++) s += w[(offset + i) * cols + j] * v[j];
            r[i] = s;
        }
        return r;
    }

    private static double[] Row(double[] x, int t, int d) => x.Skip(t * d).Take(d).ToArray();

    [Fact]
    public void RnnFollowsTheRecurrenceStepByStep()
    {
        int n = 2, len = 4, d = 3, hs = 5;
        var rnn = new RNN(d, hs);
        Assert.Equal(new[] { "Wxh", "Whh", "bias" }, rnn.Parameters().Keys.ToArray());
        var p = L.Randomize(rnn, 60);
        var x = H.Rand(n * len * d, 61);
        var h0 = H.Rand(n * hs, 62);
        var y = rnn.Forward(L.A(x, n, len, d), L.A(h0, n, hs));
        Assert.Equal(new[] { n, len, hs }, y.Shape);
        var expected = new List<double>();
        for (int b = 0; b < n; b++)
        {
            var h = Row(h0, b, hs);
            for (int t = 0; t < len; t++)
            {
                var a = MatVec(p["Wxh"], hs, d, Row(x, b * len + t, d));
                var r = MatVec(p["Whh"], hs, hs, h);
                h = Enumerable.Range(0, hs).Select(i => Math.Tanh(a[i] + p["bias"][i] + r[i])).ToArray();
                expected.AddRange(h);
            }
        }
        H.Close(expected, y, 1e-12, 1e-12);

        // Unbatched, no initial state, another nonlinearity.
        var relu = new RNN(d, hs, bias: false, nonlinearity: Mlx.Nn.Nn.Relu);
        Assert.Equal(new[] { "Wxh", "Whh" }, relu.Parameters().Keys.ToArray());
        var q = L.Randomize(relu, 63);
        var z = relu.Forward(L.A(x.Take(len * d).ToArray(), len, d));
        Assert.Equal(new[] { len, hs }, z.Shape);
        var hh = new double[hs];
        var e2 = new List<double>();
        for (int t = 0; t < len; t++)
        {
            var a = MatVec(q["Wxh"], hs, d, Row(x, t, d));
            var r = t == 0 ? new double[hs] : MatVec(q["Whh"], hs, hs, hh);
            hh = Enumerable.Range(0, hs).Select(i => Math.Max(0, a[i] + r[i])).ToArray();
            e2.AddRange(hh);
        }
        H.Close(e2, z, 1e-12, 1e-12);
    }

    private static List<double> GruByHand(Dictionary<string, double[]> p, double[] x, int len, int d, int hs, double[]? h0)
    {
        var result = new List<double>();
        double[]? h = h0;
        bool bias = p.ContainsKey("b");
        for (int t = 0; t < len; t++)
        {
            var xt = Row(x, t, d);
            var xr = MatVec(p["Wx"], hs, d, xt, 0);
            var xz = MatVec(p["Wx"], hs, d, xt, hs);
            var xn = MatVec(p["Wx"], hs, d, xt, 2 * hs);
            var hr = h is null ? new double[hs] : MatVec(p["Wh"], hs, hs, h, 0);
            var hz = h is null ? new double[hs] : MatVec(p["Wh"], hs, hs, h, hs);
            var hn = h is null ? new double[hs] : MatVec(p["Wh"], hs, hs, h, 2 * hs);
            var next = new double[hs];
            for (int i = 0; i < hs; i++)
            {
                double b(int k) => bias ? p["b"][k] : 0;
                double bhn = bias ? p["bhn"][i] : 0;
                double r = L.Sigmoid(xr[i] + b(i) + hr[i]);
                double z = L.Sigmoid(xz[i] + b(hs + i) + hz[i]);
                double nn = Math.Tanh(xn[i] + b(2 * hs + i) + r * (hn[i] + bhn));
                next[i] = (1 - z) * nn + z * (h is null ? 0 : h[i]);
            }
            h = next;
            result.AddRange(h);
        }
        return result;
    }

    [Fact]
    public void GruFollowsTheCellEquations()
    {
        int len = 5, d = 3, hs = 4;
        var gru = new GRU(d, hs);
        Assert.Equal(new[] { "Wx", "Wh", "b", "bhn" }, gru.Parameters().Keys.ToArray());
        Assert.Equal(new[] { 3 * hs, d }, gru.Parameters()["Wx"].Shape);
        var p = L.Randomize(gru, 70);
        var x = H.Rand(2 * len * d, 71);
        var h0 = H.Rand(2 * hs, 72);
        var y = gru.Forward(L.A(x, 2, len, d), L.A(h0, 2, hs));
        Assert.Equal(new[] { 2, len, hs }, y.Shape);
        var expected = GruByHand(p, x.Take(len * d).ToArray(), len, d, hs, h0.Take(hs).ToArray());
        expected.AddRange(GruByHand(p, x.Skip(len * d).ToArray(), len, d, hs, h0.Skip(hs).ToArray()));
        H.Close(expected, y, 1e-12, 1e-12);
        // No initial state: the first step uses r * bhn.
        var y0 = gru.Forward(L.A(x.Take(len * d).ToArray(), len, d));
        H.Close(GruByHand(p, x, len, d, hs, null), y0, 1e-12, 1e-12);

        // hidden = None is hidden = zeros (MLX issue #3249).
        H.Close(y0.ToArray<double>(), gru.Forward(L.A(x.Take(len * d).ToArray(), len, d), Mx.Zeros(new[] { hs }, DType.Float64)), 1e-12, 1e-12);
        // Unbatched input with a 1-D hidden state (the last output row).
        var last = Mx.Squeeze(Mx.Slice(y0, new[] { len - 1, 0 }, new[] { len, hs }), 0);
        Assert.Equal(new[] { len, hs }, gru.Forward(L.A(x.Take(len * d).ToArray(), len, d), last).Shape);

        var nb = new GRU(d, hs, bias: false);
        Assert.Equal(new[] { "Wx", "Wh" }, nb.Parameters().Keys.ToArray());
        var q = L.Randomize(nb, 73);
        H.Close(GruByHand(q, x, len, d, hs, null), nb.Forward(L.A(x.Take(len * d).ToArray(), len, d)), 1e-12, 1e-12);
    }

    private static (List<double> H, List<double> C) LstmByHand(Dictionary<string, double[]> p, double[] x, int len, int d, int hs, double[]? h0, double[]? c0)
    {
        var hsOut = new List<double>();
        var csOut = new List<double>();
        double[]? h = h0, c = c0;
        for (int t = 0; t < len; t++)
        {
            var gates = MatVec(p["Wx"], 4 * hs, d, Row(x, t, d));
            if (h is not null)
            {
                var r = MatVec(p["Wh"], 4 * hs, hs, h);
                for (int i = 0; i < 4 * hs; i++) gates[i] += r[i];
            }
            for (int i = 0; i < 4 * hs; i++) gates[i] += p["bias"][i];
            var nh = new double[hs];
            var nc = new double[hs];
            for (int k = 0; k < hs; k++)
            {
                double ig = L.Sigmoid(gates[k]), fg = L.Sigmoid(gates[hs + k]), gg = Math.Tanh(gates[2 * hs + k]), og = L.Sigmoid(gates[3 * hs + k]);
                nc[k] = (c is null ? 0 : fg * c[k]) + ig * gg;
                nh[k] = og * Math.Tanh(nc[k]);
            }
            (h, c) = (nh, nc);
            hsOut.AddRange(h);
            csOut.AddRange(c);
        }
        return (hsOut, csOut);
    }

    [Fact]
    public void LstmReturnsHiddenAndCellStatesOfTheCellEquations()
    {
        int len = 4, d = 3, hs = 2;
        var lstm = new LSTM(d, hs);
        Assert.Equal(new[] { "Wx", "Wh", "bias" }, lstm.Parameters().Keys.ToArray());
        Assert.Equal(new[] { 4 * hs, hs }, lstm.Parameters()["Wh"].Shape);
        var p = L.Randomize(lstm, 80);
        var x = H.Rand(len * d, 81);
        var h0 = H.Rand(hs, 82);
        var c0 = H.Rand(hs, 83);
        var (hAll, cAll) = lstm.Forward(L.A(x, 1, len, d), L.A(h0, 1, hs), L.A(c0, 1, hs));
        Assert.Equal(new[] { 1, len, hs }, hAll.Shape);
        var (eh, ec) = LstmByHand(p, x, len, d, hs, h0, c0);
        H.Close(eh, hAll, 1e-12, 1e-12);
        H.Close(ec, cAll, 1e-12, 1e-12);
        var (h2, c2) = lstm.Forward(L.A(x, len, d), null);
        Assert.Equal(new[] { len, hs }, h2.Shape);
        var (eh2, ec2) = LstmByHand(p, x, len, d, hs, null, null);
        H.Close(eh2, h2, 1e-12, 1e-12);
        H.Close(ec2, c2, 1e-12, 1e-12);
    }

    [Fact]
    public void RecurrentGradientsMatchFiniteDifferences()
    {
        int len = 3, d = 2, hs = 3;
        var lstm = new LSTM(d, hs);
        L.Randomize(lstm, 90);
        var gru = new GRU(d, hs);
        L.Randomize(gru, 91);
        var w = Mx.Array(H.Rand(len * hs, 92), new[] { len, hs });
        L.CheckGrad(x => Mx.Sum(Mx.Multiply(lstm.Forward(x), w)), H.Rand(len * d, 93), new[] { len, d });
        L.CheckGrad(x => Mx.Sum(Mx.Multiply(gru.Forward(x), w)), H.Rand(len * d, 94), new[] { len, d });
        // Gradients with respect to a weight, through nn.ValueAndGrad.
        var target = Mx.Array(H.Rand(len * hs, 95), new[] { len, hs });
        var input = Mx.Array(H.Rand(len * d, 96), new[] { len, d });
        var vg = Mlx.Nn.Nn.ValueAndGrad(lstm, _ => Mlx.Nn.Nn.MseLoss(lstm.Forward(input), target));
        var (_, grads) = vg(Array.Empty<MxArray>());
        var wh = lstm.Parameters()["Wh"].ToArray<double>();
        var g = grads["Wh"].ToArray<double>();
        for (int i = 0; i < wh.Length; i += 5)
        {
            double Loss(double delta)
            {
                var v = (double[])wh.Clone();
                v[i] += delta;
                L.Set(lstm, "Wh", v, 4 * hs, hs);
                return Mlx.Nn.Nn.MseLoss(lstm.Forward(input), target).Item<double>();
            }
            double numeric = (Loss(1e-6) - Loss(-1e-6)) / 2e-6;
            L.Set(lstm, "Wh", wh, 4 * hs, hs);
            Assert.True(Math.Abs(numeric - g[i]) < 1e-6 * (1 + Math.Abs(numeric)), $"Wh[{i}]: {numeric} vs {g[i]}");
        }
    }
}
