namespace Mlx.Nn;

/// <summary>Channel dropout, channels last (NHWC or HWC): whole channels are zeroed with probability p, the rest scaled by 1/(1-p).</summary>
public sealed class Dropout2d : Module
{
    private readonly double _p1;

    public Dropout2d(double p = 0.5)
    {
        if (p < 0 || p >= 1) throw new ArgumentException($"The dropout probability {p} is not in [0, 1)");
        _p1 = 1 - p;
    }

    public override MxArray Forward(MxArray x)
    {
        if (x.NDim is not (3 or 4)) throw new ArgumentException($"Received input with {x.NDim} dimensions. Expected 3 or 4 dimensions.");
        return DropoutMasks.Channel(x, _p1, 2, Training);
    }
}

/// <summary>Channel dropout, channels last (NDHWC or DHWC).</summary>
public sealed class Dropout3d : Module
{
    private readonly double _p1;

    public Dropout3d(double p = 0.5)
    {
        if (p < 0 || p >= 1) throw new ArgumentException($"The dropout probability {p} is not in [0, 1)");
        _p1 = 1 - p;
    }

    public override MxArray Forward(MxArray x)
    {
        if (x.NDim is not (4 or 5)) throw new ArgumentException($"Received input with {x.NDim} dimensions. Expected 4 or 5 dimensions.");
        return DropoutMasks.Channel(x, _p1, 3, Training);
    }
}

internal static class DropoutMasks
{
    public static MxArray Channel(MxArray x, double keep, int spatial, bool training)
    {
        if (keep == 1 || !training) return x;
        var maskShape = x.Shape;
        for (int i = 2; i <= spatial + 1; i++) maskShape[^i] = 1;
        var mask = Mx.Random.Bernoulli(Mx.Array((float)keep), maskShape);
        return Mx.Multiply(Mx.Multiply(Mx.AsType(mask, x.DType), x), 1 / keep);
    }
}
