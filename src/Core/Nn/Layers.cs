namespace Mlx.Nn;

/// <summary>y = x W^T + b, weight (out, in) initialized uniform(-1/sqrt(in), 1/sqrt(in)) as MLX.</summary>
public sealed class Linear : Module
{
    public Linear(int inputDims, int outputDims, bool bias = true, MxArray? key = null)
    {
        double scale = Math.Sqrt(1.0 / inputDims);
        var keys = key is null ? null : Mx.Random.Split(key, 2);
        Param("weight", Mx.Random.Uniform(-scale, scale, new[] { outputDims, inputDims }, key: keys?[0]));
        if (bias) Param("bias", Mx.Random.Uniform(-scale, scale, new[] { outputDims }, key: keys?[1]));
    }

    public override MxArray Forward(MxArray x)
    {
        if (Quantization is QuantizationSpec q) return QuantizedLinear.Apply(x, P("weight"), P("scales"), Biases, HasParam("bias") ? P("bias") : null, q);
        // As MLX: addmm(bias, x, weight.T), one GEMM that accumulates into the broadcast bias.
        return HasParam("bias") ? Mx.Addmm(P("bias"), x, Mx.Transpose(P("weight"))) : Mx.Matmul(x, Mx.Transpose(P("weight")));
    }

    /// <summary>How the weight is quantized (after <see cref="Nn.Quantize"/>), or null.</summary>
    public QuantizationSpec? Quantization => QuantizedAs;
}

/// <summary>y = x1^T W x2 + b, weight (out, in1, in2).</summary>
public sealed class Bilinear : Module
{
    public Bilinear(int input1Dims, int input2Dims, int outputDims, bool bias = true)
    {
        double scale = Math.Sqrt(1.0 / input1Dims);
        Param("weight", Mx.Random.Uniform(-scale, scale, new[] { outputDims, input1Dims, input2Dims }));
        if (bias) Param("bias", Mx.Random.Uniform(-scale, scale, new[] { outputDims }));
    }

    public override MxArray Forward(MxArray x) => throw new NotSupportedException("Bilinear takes two inputs: call Forward(x1, x2).");

    public MxArray Forward(MxArray x1, MxArray x2)
    {
        var y = Mx.Einsum("...i,oij,...j->...o", x1, P("weight"), x2);
        return HasParam("bias") ? Mx.Add(y, P("bias")) : y;
    }
}

public sealed class Identity : Module
{
    public override MxArray Forward(MxArray x) => x;
}

/// <summary>Applies its layers in order; children are named "layers.0", "layers.1", ... as MLX.</summary>
public sealed class Sequential : Module
{
    private readonly List<Module> _layers = new();
    private readonly List<Func<MxArray, MxArray>> _steps = new();

    public Sequential(params object[] layers)
    {
        var holder = Child("layers", new LayerList());
        foreach (var l in layers)
        {
            switch (l)
            {
                case Module m:
                    holder.Add(m);
                    _layers.Add(m);
                    _steps.Add(m.Forward);
                    break;
                case Func<MxArray, MxArray> f:
                    holder.AddFunction();
                    _steps.Add(f);
                    break;
                default:
                    throw new ArgumentException("Sequential takes modules and Func<MxArray, MxArray> functions.");
            }
        }
    }

    public IReadOnlyList<Module> Layers => _layers;

    public override MxArray Forward(MxArray x)
    {
        foreach (var step in _steps) x = step(x);
        return x;
    }

    private sealed class LayerList : Module
    {
        private int _count;

        public void Add(Module m) => Child((_count++).ToString(), m);

        public void AddFunction() => _count++;

        public override MxArray Forward(MxArray x) => throw new NotSupportedException();
    }
}

/// <summary>A lookup table of <c>dims</c>-vectors, initialized N(0, 1).</summary>
public sealed class Embedding : Module
{
    public Embedding(int numEmbeddings, int dims)
    {
        Param("weight", Mx.Random.Normal(new[] { numEmbeddings, dims }, scale: Math.Sqrt(1.0 / dims)));
    }

    public override MxArray Forward(MxArray x)
    {
        if (Quantization is QuantizationSpec q) return QuantizedEmbedding.Lookup(x, P("weight"), P("scales"), Biases, q);
        return Mx.Take(P("weight"), x, 0);
    }

    /// <summary>Uses the embedding as a linear layer (tied output projection).</summary>
    public MxArray AsLinear(MxArray x)
    {
        if (Quantization is QuantizationSpec q) return QuantizedLinear.Apply(x, P("weight"), P("scales"), Biases, null, q);
        return Mx.Matmul(x, Mx.Transpose(P("weight")));
    }

    /// <summary>How the table is quantized (after <see cref="Nn.Quantize"/>), or null.</summary>
    public QuantizationSpec? Quantization => QuantizedAs;
}

public sealed class Dropout : Module
{
    private readonly double _p;

    public Dropout(double p = 0.5)
    {
        if (p < 0 || p >= 1) throw new ArgumentException("Dropout probability must be in [0, 1).");
        _p = p;
    }

    public override MxArray Forward(MxArray x)
    {
        if (!Training || _p == 0) return x;
        var keep = Mx.Random.Bernoulli(Mx.Array((float)(1 - _p)), x.ShapeRef);
        return Mx.Multiply(Mx.Where(keep, x, Mx.ZerosLike(x)), 1.0 / (1 - _p));
    }
}

public sealed class LayerNorm : Module
{
    private readonly double _eps;

    public LayerNorm(int dims, double eps = 1e-5, bool affine = true, bool bias = true)
    {
        _eps = eps;
        if (affine)
        {
            Param("weight", Mx.Ones(new[] { dims }));
            if (bias) Param("bias", Mx.Zeros(new[] { dims }));
        }
    }

    public override MxArray Forward(MxArray x) =>
        Mx.Fast.LayerNorm(x, HasParam("weight") ? P("weight") : null, HasParam("bias") ? P("bias") : null, _eps);
}

public sealed class RMSNorm : Module
{
    private readonly double _eps;

    public RMSNorm(int dims, double eps = 1e-5)
    {
        _eps = eps;
        Param("weight", Mx.Ones(new[] { dims }));
    }

    public override MxArray Forward(MxArray x) => Mx.Fast.RmsNorm(x, P("weight"), _eps);
}

/// <summary>2-D convolution, channels last: input (N, H, W, C_in), weight (C_out, KH, KW, C_in).</summary>
public sealed class Conv2d : Module
{
    private readonly int _stride, _padding, _dilation, _groups;

    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, int groups = 1, bool bias = true)
    {
        _stride = stride;
        _padding = padding;
        _dilation = dilation;
        _groups = groups;
        double scale = Math.Sqrt(1.0 / (inChannels * kernelSize * kernelSize));
        Param("weight", Mx.Random.Uniform(-scale, scale, new[] { outChannels, kernelSize, kernelSize, inChannels / groups }));
        if (bias) Param("bias", Mx.Zeros(new[] { outChannels }));
    }

    public override MxArray Forward(MxArray x)
    {
        var y = Mx.Conv2d(x, P("weight"), _stride, _padding, _dilation, _groups);
        return HasParam("bias") ? Mx.Add(y, P("bias")) : y;
    }
}

/// <summary>1-D convolution, channels last: input (N, L, C_in), weight (C_out, K, C_in).</summary>
public sealed class Conv1d : Module
{
    private readonly int _stride, _padding, _dilation, _groups;

    public Conv1d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, int groups = 1, bool bias = true)
    {
        (_stride, _padding, _dilation, _groups) = (stride, padding, dilation, groups);
        double scale = Math.Sqrt(1.0 / (inChannels * kernelSize));
        Param("weight", Mx.Random.Uniform(-scale, scale, new[] { outChannels, kernelSize, inChannels / groups }));
        if (bias) Param("bias", Mx.Zeros(new[] { outChannels }));
    }

    public override MxArray Forward(MxArray x)
    {
        var y = Mx.Conv1d(x, P("weight"), _stride, _padding, _dilation, _groups);
        return HasParam("bias") ? Mx.Add(y, P("bias")) : y;
    }
}

/// <summary>Max or average pooling over windows of the spatial axes (channels last).</summary>
public class Pool : Module
{
    private readonly int[] _kernel, _stride, _padding;
    private readonly bool _max;

    protected Pool(bool max, int[] kernel, int[] stride, int[] padding)
    {
        (_max, _kernel, _stride, _padding) = (max, kernel, stride, padding);
    }

    public override MxArray Forward(MxArray x)
    {
        int d = _kernel.Length;
        var shape = x.Shape;
        if (_padding.All(p => p == 0) && Enumerable.Range(0, d).All(i => _stride[i] == _kernel[i] && shape[1 + i] % _kernel[i] == 0))
        {
            // Non-overlapping windows that tile the input: a reshape (a view) and one reduction.
            var split = new List<int> { shape[0] };
            for (int i = 0; i < d; i++)
            {
                split.Add(shape[1 + i] / _kernel[i]);
                split.Add(_kernel[i]);
            }
            split.Add(shape[^1]);
            var axes = Enumerable.Range(0, d).Select(i => 2 + 2 * i).ToArray();
            var tiled = Mx.Reshape(x, split.ToArray());
            return _max ? Mx.Max(tiled, axes) : Mx.Mean(tiled, axes);
        }
        if (_padding.Any(p => p > 0))
        {
            var pads = new (int, int)[x.NDim];
            for (int i = 0; i < d; i++) pads[1 + i] = (_padding[i], _padding[i]);
            x = Mx.Pad(x, pads, _max ? double.NegativeInfinity : 0);
        }
        var windows = new List<MxArray>();
        int count = _kernel.Aggregate(1, (a, b) => a * b);
        for (int flat = 0; flat < count; flat++)
        {
            var start = new int[x.NDim];
            var stop = x.Shape;
            var step = Enumerable.Repeat(1, x.NDim).ToArray();
            for (int i = d - 1, r = flat; i >= 0; i--)
            {
                int k = r % _kernel[i];
                r /= _kernel[i];
                int n = x.Shape[1 + i];
                int outN = (n - _kernel[i]) / _stride[i] + 1;
                start[1 + i] = k;
                stop[1 + i] = k + _stride[i] * (outN - 1) + 1;
                step[1 + i] = _stride[i];
            }
            windows.Add(Mx.Slice(x, start, stop, step));
        }
        var stacked = Mx.Stack(windows.ToArray(), 0);
        return _max ? Mx.Max(stacked, 0) : Mx.Mean(stacked, 0);
    }
}

public sealed class MaxPool2d : Pool
{
    public MaxPool2d(int kernelSize, int? stride = null, int padding = 0)
        : base(true, new[] { kernelSize, kernelSize }, new[] { stride ?? kernelSize, stride ?? kernelSize }, new[] { padding, padding }) { }
}

public sealed class AvgPool2d : Pool
{
    public AvgPool2d(int kernelSize, int? stride = null, int padding = 0)
        : base(false, new[] { kernelSize, kernelSize }, new[] { stride ?? kernelSize, stride ?? kernelSize }, new[] { padding, padding }) { }
}

public sealed class MaxPool1d : Pool
{
    public MaxPool1d(int kernelSize, int? stride = null, int padding = 0)
        : base(true, new[] { kernelSize }, new[] { stride ?? kernelSize }, new[] { padding }) { }
}

public sealed class AvgPool1d : Pool
{
    public AvgPool1d(int kernelSize, int? stride = null, int padding = 0)
        : base(false, new[] { kernelSize }, new[] { stride ?? kernelSize }, new[] { padding }) { }
}

/// <summary>A module wrapping an activation function.</summary>
public sealed class Activation : Module
{
    private readonly Func<MxArray, MxArray> _fn;

    public Activation(Func<MxArray, MxArray> fn) => _fn = fn;

    public override MxArray Forward(MxArray x) => _fn(x);
}
