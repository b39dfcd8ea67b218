namespace Mlx.Nn;

/// <summary>3-D convolution, channels last: input (N, D, H, W, C_in), weight (C_out, KD, KH, KW, C_in).</summary>
public sealed class Conv3d : Module
{
    private readonly int[] _stride, _padding, _dilation;

    public Conv3d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, bool bias = true)
        : this(inChannels, outChannels, (kernelSize, kernelSize, kernelSize), (stride, stride, stride), (padding, padding, padding), (dilation, dilation, dilation), bias) { }

    public Conv3d(int inChannels, int outChannels, (int, int, int) kernelSize, (int, int, int)? stride = null, (int, int, int)? padding = null,
        (int, int, int)? dilation = null, bool bias = true)
    {
        var k = ConvUtil.Arr(kernelSize);
        _stride = ConvUtil.Arr(stride ?? (1, 1, 1));
        _padding = ConvUtil.Arr(padding ?? (0, 0, 0));
        _dilation = ConvUtil.Arr(dilation ?? (1, 1, 1));
        double scale = Math.Sqrt(1.0 / (inChannels * k[0] * k[1] * k[2]));
        Param("weight", Mx.Random.Uniform(-scale, scale, new[] { outChannels, k[0], k[1], k[2], inChannels }));
        if (bias) Param("bias", Mx.Zeros(new[] { outChannels }));
    }

    public override MxArray Forward(MxArray x)
    {
        var y = Mx.ConvGeneral(x, P("weight"), _stride, _padding.Select(p => (p, p)).ToArray(), _dilation);
        return HasParam("bias") ? Mx.Add(y, P("bias")) : y;
    }
}

/// <summary>Transposed convolutions as mlx.nn.ConvTranspose1d/2d/3d: weight (C_out, *kernel, C_in).</summary>
public abstract class ConvTransposeNd : Module
{
    private readonly int[] _stride, _padding, _dilation, _outputPadding;

    private protected ConvTransposeNd(int inChannels, int outChannels, int[] kernel, int[] stride, int[] padding, int[] dilation, int[] outputPadding, bool bias)
    {
        (_stride, _padding, _dilation, _outputPadding) = (stride, padding, dilation, outputPadding);
        double scale = Math.Sqrt(1.0 / (inChannels * kernel.Aggregate(1, (a, b) => a * b)));
        Param("weight", Mx.Random.Uniform(-scale, scale, new[] { outChannels }.Concat(kernel).Append(inChannels).ToArray()));
        if (bias) Param("bias", Mx.Zeros(new[] { outChannels }));
    }

    public override MxArray Forward(MxArray x)
    {
        var y = Mx.ConvTransposeGeneral(x, P("weight"), _stride, _padding, _dilation, _outputPadding);
        return HasParam("bias") ? Mx.Add(y, P("bias")) : y;
    }
}

public sealed class ConvTranspose1d : ConvTransposeNd
{
    public ConvTranspose1d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, int outputPadding = 0, bool bias = true)
        : base(inChannels, outChannels, new[] { kernelSize }, new[] { stride }, new[] { padding }, new[] { dilation }, new[] { outputPadding }, bias) { }
}

public sealed class ConvTranspose2d : ConvTransposeNd
{
    public ConvTranspose2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, int outputPadding = 0, bool bias = true)
        : this(inChannels, outChannels, (kernelSize, kernelSize), (stride, stride), (padding, padding), (dilation, dilation), (outputPadding, outputPadding), bias) { }

    public ConvTranspose2d(int inChannels, int outChannels, (int, int) kernelSize, (int, int)? stride = null, (int, int)? padding = null,
        (int, int)? dilation = null, (int, int)? outputPadding = null, bool bias = true)
        : base(inChannels, outChannels, ConvUtil.Arr(kernelSize), ConvUtil.Arr(stride ?? (1, 1)), ConvUtil.Arr(padding ?? (0, 0)),
            ConvUtil.Arr(dilation ?? (1, 1)), ConvUtil.Arr(outputPadding ?? (0, 0)), bias) { }
}

public sealed class ConvTranspose3d : ConvTransposeNd
{
    public ConvTranspose3d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, int outputPadding = 0, bool bias = true)
        : this(inChannels, outChannels, (kernelSize, kernelSize, kernelSize), (stride, stride, stride), (padding, padding, padding),
            (dilation, dilation, dilation), (outputPadding, outputPadding, outputPadding), bias) { }

    public ConvTranspose3d(int inChannels, int outChannels, (int, int, int) kernelSize, (int, int, int)? stride = null, (int, int, int)? padding = null,
        (int, int, int)? dilation = null, (int, int, int)? outputPadding = null, bool bias = true)
        : base(inChannels, outChannels, ConvUtil.Arr(kernelSize), ConvUtil.Arr(stride ?? (1, 1, 1)), ConvUtil.Arr(padding ?? (0, 0, 0)),
            ConvUtil.Arr(dilation ?? (1, 1, 1)), ConvUtil.Arr(outputPadding ?? (0, 0, 0)), bias) { }
}

public sealed class MaxPool3d : Pool
{
    public MaxPool3d(int kernelSize, int? stride = null, int padding = 0)
        : this((kernelSize, kernelSize, kernelSize), stride is int s ? (s, s, s) : null, (padding, padding, padding)) { }

    public MaxPool3d((int, int, int) kernelSize, (int, int, int)? stride = null, (int, int, int)? padding = null)
        : base(true, ConvUtil.Arr(kernelSize), ConvUtil.Arr(stride ?? kernelSize), ConvUtil.Arr(padding ?? (0, 0, 0))) { }
}

public sealed class AvgPool3d : Pool
{
    public AvgPool3d(int kernelSize, int? stride = null, int padding = 0)
        : this((kernelSize, kernelSize, kernelSize), stride is int s ? (s, s, s) : null, (padding, padding, padding)) { }

    public AvgPool3d((int, int, int) kernelSize, (int, int, int)? stride = null, (int, int, int)? padding = null)
        : base(false, ConvUtil.Arr(kernelSize), ConvUtil.Arr(stride ?? kernelSize), ConvUtil.Arr(padding ?? (0, 0, 0))) { }
}

internal static class ConvUtil
{
    public static int[] Arr((int, int) t) => new[] { t.Item1, t.Item2 };

    public static int[] Arr((int, int, int) t) => new[] { t.Item1, t.Item2, t.Item3 };
}
