namespace Mlx.Nn;

/// <summary>
/// Elman RNN as mlx.nn.RNN: h_t = nonlinearity(x_t Wxh^T + bias + h_{t-1} Whh^T), input (N, L, D) or (L, D);
/// returns every hidden state, (N, L, H) or (L, H). Parameters <c>Wxh</c> (H, D), <c>Whh</c> (H, H), <c>bias</c> (H).
/// </summary>
public sealed class RNN : Module
{
    private readonly Func<MxArray, MxArray> _nonlinearity;

    public RNN(int inputSize, int hiddenSize, bool bias = true, Func<MxArray, MxArray>? nonlinearity = null)
    {
        _nonlinearity = nonlinearity ?? (x => Mx.Tanh(x));
        HiddenSize = hiddenSize;
        double scale = 1.0 / Math.Sqrt(hiddenSize);
        Param("Wxh", Mx.Random.Uniform(-scale, scale, new[] { hiddenSize, inputSize }));
        Param("Whh", Mx.Random.Uniform(-scale, scale, new[] { hiddenSize, hiddenSize }));
        if (bias) Param("bias", Mx.Random.Uniform(-scale, scale, new[] { hiddenSize }));
    }

    public int HiddenSize { get; }

    public override MxArray Forward(MxArray x) => Forward(x, null);

    public MxArray Forward(MxArray x, MxArray? hidden)
    {
        x = HasParam("bias") ? Mx.Addmm(P("bias"), x, Mx.Transpose(P("Wxh"))) : Mx.Matmul(x, Mx.Transpose(P("Wxh")));
        var whhT = Mx.Transpose(P("Whh"));
        int steps = x.ShapeRef[^2];
        var all = new MxArray[steps];
        for (int t = 0; t < steps; t++)
        {
            var xt = RecurrentUtil.Step(x, t);
            hidden = hidden is null ? xt : Mx.Addmm(xt, hidden, whhT);
            hidden = _nonlinearity(hidden);
            all[t] = hidden;
        }
        return Mx.Stack(all, -2);
    }
}

/// <summary>
/// GRU as mlx.nn.GRU: input (N, L, D) or (L, D); returns every hidden state. Parameters <c>Wx</c> (3H, D),
/// <c>Wh</c> (3H, H), <c>b</c> (3H) and <c>bhn</c> (H), gates ordered r, z, n:
/// r = σ(x Wr + br + h Ur), z = σ(x Wz + bz + h Uz), n = tanh(x Wn + bn + r ⊙ (h Un + bhn)), h' = (1 - z) n + z h.
/// </summary>
public sealed class GRU : Module
{
    public GRU(int inputSize, int hiddenSize, bool bias = true)
    {
        HiddenSize = hiddenSize;
        double scale = 1.0 / Math.Sqrt(hiddenSize);
        Param("Wx", Mx.Random.Uniform(-scale, scale, new[] { 3 * hiddenSize, inputSize }));
        Param("Wh", Mx.Random.Uniform(-scale, scale, new[] { 3 * hiddenSize, hiddenSize }));
        if (bias)
        {
            Param("b", Mx.Random.Uniform(-scale, scale, new[] { 3 * hiddenSize }));
            Param("bhn", Mx.Random.Uniform(-scale, scale, new[] { hiddenSize }));
        }
    }

    public int HiddenSize { get; }

    public override MxArray Forward(MxArray x) => Forward(x, null);

    public MxArray Forward(MxArray x, MxArray? hidden)
    {
        int h = HiddenSize;
        x = HasParam("b") ? Mx.Addmm(P("b"), x, Mx.Transpose(P("Wx"))) : Mx.Matmul(x, Mx.Transpose(P("Wx")));
        var xrz = RecurrentUtil.Last(x, 0, 2 * h);
        var xn = RecurrentUtil.Last(x, 2 * h, 3 * h);
        var whT = Mx.Transpose(P("Wh"));
        MxArray? bhn = HasParam("bhn") ? P("bhn") : null;
        int steps = x.ShapeRef[^2];
        var all = new MxArray[steps];
        for (int t = 0; t < steps; t++)
        {
            var rz = RecurrentUtil.Step(xrz, t);
            MxArray? hProjN = null;
            if (hidden is not null)
            {
                var hProj = Mx.Matmul(hidden, whT);
                hProjN = RecurrentUtil.Last(hProj, 2 * h, 3 * h);
                if (bhn is not null) hProjN = Mx.Add(hProjN, bhn);
                rz = Mx.Add(rz, RecurrentUtil.Last(hProj, 0, 2 * h));
            }
            rz = Mx.Sigmoid(rz);
            var parts = Mx.Split(rz, 2, -1);
            MxArray r = parts[0], z = parts[1];
            var n = RecurrentUtil.Step(xn, t);
            if (hProjN is not null) n = Mx.Add(n, Mx.Multiply(r, hProjN));
            else if (bhn is not null) n = Mx.Add(n, Mx.Multiply(r, bhn));
            n = Mx.Tanh(n);
            var oneMinusZ = Mx.Subtract(1.0, z);
            hidden = hidden is null ? Mx.Multiply(oneMinusZ, n) : Mx.Add(Mx.Multiply(oneMinusZ, n), Mx.Multiply(z, hidden));
            all[t] = hidden;
        }
        return Mx.Stack(all, -2);
    }
}

/// <summary>
/// LSTM as mlx.nn.LSTM: input (N, L, D) or (L, D); returns every hidden state and every cell state. Parameters
/// <c>Wx</c> (4H, D), <c>Wh</c> (4H, H), <c>bias</c> (4H), gates ordered i, f, g, o:
/// c' = σ(f) c + σ(i) tanh(g), h' = σ(o) tanh(c').
/// </summary>
public sealed class LSTM : Module
{
    public LSTM(int inputSize, int hiddenSize, bool bias = true)
    {
        HiddenSize = hiddenSize;
        double scale = 1.0 / Math.Sqrt(hiddenSize);
        Param("Wx", Mx.Random.Uniform(-scale, scale, new[] { 4 * hiddenSize, inputSize }));
        Param("Wh", Mx.Random.Uniform(-scale, scale, new[] { 4 * hiddenSize, hiddenSize }));
        if (bias) Param("bias", Mx.Random.Uniform(-scale, scale, new[] { 4 * hiddenSize }));
    }

    public int HiddenSize { get; }

    /// <summary>The hidden states only (LSTM returns two arrays: use <see cref="Forward(MxArray, MxArray?, MxArray?)"/> for both).</summary>
    public override MxArray Forward(MxArray x) => Forward(x, null, null).Hidden;

    public (MxArray Hidden, MxArray Cell) Forward(MxArray x, MxArray? hidden, MxArray? cell = null)
    {
        x = HasParam("bias") ? Mx.Addmm(P("bias"), x, Mx.Transpose(P("Wx"))) : Mx.Matmul(x, Mx.Transpose(P("Wx")));
        var whT = Mx.Transpose(P("Wh"));
        int steps = x.ShapeRef[^2];
        var allH = new MxArray[steps];
        var allC = new MxArray[steps];
        for (int t = 0; t < steps; t++)
        {
            var ifgo = RecurrentUtil.Step(x, t);
            if (hidden is not null) ifgo = Mx.Addmm(ifgo, hidden, whT);
            var g4 = Mx.Split(ifgo, 4, -1);
            var i = Mx.Sigmoid(g4[0]);
            var f = Mx.Sigmoid(g4[1]);
            var g = Mx.Tanh(g4[2]);
            var o = Mx.Sigmoid(g4[3]);
            cell = cell is null ? Mx.Multiply(i, g) : Mx.Add(Mx.Multiply(f, cell), Mx.Multiply(i, g));
            hidden = Mx.Multiply(o, Mx.Tanh(cell));
            allH[t] = hidden;
            allC[t] = cell;
        }
        return (Mx.Stack(allH, -2), Mx.Stack(allC, -2));
    }
}

internal static class RecurrentUtil
{
    /// <summary>x[..., t, :].</summary>
    public static MxArray Step(MxArray x, int t)
    {
        int nd = x.NDim;
        var start = new int[nd];
        var stop = x.Shape;
        start[nd - 2] = t;
        stop[nd - 2] = t + 1;
        return Mx.Squeeze(Mx.Slice(x, start, stop), nd - 2);
    }

    /// <summary>x[..., from:to].</summary>
    public static MxArray Last(MxArray x, int from, int to)
    {
        var start = new int[x.NDim];
        var stop = x.Shape;
        start[^1] = from;
        stop[^1] = to;
        return Mx.Slice(x, start, stop);
    }
}
