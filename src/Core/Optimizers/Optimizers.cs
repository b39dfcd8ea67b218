using Mlx.Nn;

namespace Mlx.Optimizers;

/// <summary>A learning rate: constant, or a schedule of the step count.</summary>
public readonly struct LearningRate
{
    private readonly Func<int, double> _schedule;

    private LearningRate(Func<int, double> schedule) => _schedule = schedule;

    public double At(int step) => _schedule(step);

    public static implicit operator LearningRate(double value) => new(_ => value);

    public static implicit operator LearningRate(Func<int, double> schedule) => new(schedule);
}

/// <summary>
/// Base of the optimizers in mlx.optimizers: per-parameter state, keyed by the parameter's dotted name, and one
/// update rule applied to every trainable parameter.
/// </summary>
public abstract class Optimizer
{
    private readonly Dictionary<string, Dictionary<string, MxArray>> _state = new(StringComparer.Ordinal);

    protected Optimizer(LearningRate learningRate) => LearningRateSchedule = learningRate;

    public LearningRate LearningRateSchedule { get; }

    /// <summary>Updates applied so far.</summary>
    public int Step { get; private set; }

    /// <summary>The learning rate the next update uses.</summary>
    public double LearningRate => LearningRateSchedule.At(Step);

    /// <summary>Per-parameter state (for saving, inspection, or compiling a training step).</summary>
    public IReadOnlyDictionary<string, Dictionary<string, MxArray>> State => _state;

    /// <summary>Applies one update to <paramref name="model"/> from <paramref name="gradients"/> (names as TrainableParameters).</summary>
    public void Update(Module model, IReadOnlyDictionary<string, MxArray> gradients) =>
        model.Update(ApplyGradients(gradients, model.TrainableParameters()));

    /// <summary>The parameters after one update.</summary>
    public Dictionary<string, MxArray> ApplyGradients(IReadOnlyDictionary<string, MxArray> gradients, IReadOnlyDictionary<string, MxArray> parameters)
    {
        double lr = LearningRate;
        var result = new Dictionary<string, MxArray>(StringComparer.Ordinal);
        foreach (var (name, g) in gradients)
        {
            var p = parameters[name];
            // The update's intermediates (lr * g, ...) are freed as soon as the new value is computed.
            using var scope = Mx.NewDisposeScope();
            if (!_state.TryGetValue(name, out var state))
            {
                _state[name] = state = new Dictionary<string, MxArray>(StringComparer.Ordinal);
                Init(p, state);
            }
            var updated = ApplySingle(g, p, state, lr);
            DisposeScope.Detach(state.Values);
            scope.MoveToOuter(updated);
            result[name] = updated;
        }
        Step++;
        return result;
    }

    protected virtual void Init(MxArray parameter, Dictionary<string, MxArray> state)
    {
    }

    /// <summary>The new value of one parameter.</summary>
    protected abstract MxArray ApplySingle(MxArray gradient, MxArray parameter, Dictionary<string, MxArray> state, double lr);

    protected static MxArray Scalar(double v, MxArray like) => Mx.Array(v, like.DType);
}

/// <summary>SGD with momentum, dampening, Nesterov and weight decay, as mlx.optimizers.SGD.</summary>
public sealed class SGD : Optimizer
{
    private readonly double _momentum, _weightDecay, _dampening;
    private readonly bool _nesterov;

    public SGD(LearningRate learningRate, double momentum = 0, double weightDecay = 0, double dampening = 0, bool nesterov = false) : base(learningRate)
    {
        if (nesterov && (momentum <= 0 || dampening != 0)) throw new ArgumentException("Nesterov momentum needs momentum > 0 and zero dampening.");
        (_momentum, _weightDecay, _dampening, _nesterov) = (momentum, weightDecay, dampening, nesterov);
    }

    protected override MxArray ApplySingle(MxArray g, MxArray p, Dictionary<string, MxArray> state, double lr)
    {
        if (_weightDecay != 0) g = Mx.Add(g, Mx.Multiply(p, Scalar(_weightDecay, p)));
        if (_momentum <= 0) return SubtractScaledPrimitive.Apply(p, g, lr);
        // MLX: v = momentum * v + (1 - dampening) * g, the first step included (v starts at zero).
        var v = state.TryGetValue("v", out var prev) ? prev : Mx.ZerosLike(p);
        v = Mx.Add(Mx.Multiply(v, Scalar(_momentum, p)), _dampening != 0 ? Mx.Multiply(g, Scalar(1 - _dampening, p)) : g);
        state["v"] = v;
        var update = _nesterov ? Mx.Add(g, Mx.Multiply(v, Scalar(_momentum, p))) : v;
        return Mx.Subtract(p, Mx.Multiply(update, Scalar(lr, p)));
    }
}

public sealed class RMSprop : Optimizer
{
    private readonly double _alpha, _eps;

    public RMSprop(LearningRate learningRate, double alpha = 0.99, double eps = 1e-8) : base(learningRate) => (_alpha, _eps) = (alpha, eps);

    protected override void Init(MxArray p, Dictionary<string, MxArray> s) => s["v"] = Mx.ZerosLike(p);

    protected override MxArray ApplySingle(MxArray g, MxArray p, Dictionary<string, MxArray> s, double lr)
    {
        var v = Mx.Add(Mx.Multiply(s["v"], Scalar(_alpha, p)), Mx.Multiply(Mx.Square(g), Scalar(1 - _alpha, p)));
        s["v"] = v;
        return Mx.Subtract(p, Mx.Divide(Mx.Multiply(g, Scalar(lr, p)), Mx.Add(Mx.Sqrt(v), Scalar(_eps, p))));
    }
}

public sealed class Adagrad : Optimizer
{
    private readonly double _eps;

    public Adagrad(LearningRate learningRate, double eps = 1e-8) : base(learningRate) => _eps = eps;

    protected override void Init(MxArray p, Dictionary<string, MxArray> s) => s["v"] = Mx.ZerosLike(p);

    protected override MxArray ApplySingle(MxArray g, MxArray p, Dictionary<string, MxArray> s, double lr)
    {
        var v = Mx.Add(s["v"], Mx.Square(g));
        s["v"] = v;
        return Mx.Subtract(p, Mx.Divide(Mx.Multiply(g, Scalar(lr, p)), Mx.Add(Mx.Sqrt(v), Scalar(_eps, p))));
    }
}

public sealed class AdaDelta : Optimizer
{
    private readonly double _rho, _eps;

    public AdaDelta(LearningRate learningRate, double rho = 0.9, double eps = 1e-6) : base(learningRate) => (_rho, _eps) = (rho, eps);

    protected override void Init(MxArray p, Dictionary<string, MxArray> s)
    {
        s["v"] = Mx.ZerosLike(p);
        s["u"] = Mx.ZerosLike(p);
    }

    protected override MxArray ApplySingle(MxArray g, MxArray p, Dictionary<string, MxArray> s, double lr)
    {
        var v = Mx.Add(Mx.Multiply(s["v"], Scalar(_rho, p)), Mx.Multiply(Mx.Square(g), Scalar(1 - _rho, p)));
        var d = Mx.Multiply(Mx.Divide(Mx.Sqrt(Mx.Add(s["u"], Scalar(_eps, p))), Mx.Sqrt(Mx.Add(v, Scalar(_eps, p)))), g);
        var u = Mx.Add(Mx.Multiply(s["u"], Scalar(_rho, p)), Mx.Multiply(Mx.Square(d), Scalar(1 - _rho, p)));
        s["v"] = v;
        s["u"] = u;
        return Mx.Subtract(p, Mx.Multiply(d, Scalar(lr, p)));
    }
}

/// <summary>Adam. MLX's default has no bias correction; <c>biasCorrection: true</c> gives the paper's.</summary>
public class Adam : Optimizer
{
    private readonly double _b1, _b2, _eps;
    private readonly bool _biasCorrection;

    public Adam(LearningRate learningRate, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, bool biasCorrection = false) : base(learningRate) =>
        (_b1, _b2, _eps, _biasCorrection) = (beta1, beta2, eps, biasCorrection);

    protected override void Init(MxArray p, Dictionary<string, MxArray> s)
    {
        s["m"] = Mx.ZerosLike(p);
        s["v"] = Mx.ZerosLike(p);
    }

    protected override MxArray ApplySingle(MxArray g, MxArray p, Dictionary<string, MxArray> s, double lr) => AdamStep(g, p, s, lr);

    protected MxArray AdamStep(MxArray g, MxArray p, Dictionary<string, MxArray> s, double lr)
    {
        var m = Mx.Add(Mx.Multiply(s["m"], Scalar(_b1, p)), Mx.Multiply(g, Scalar(1 - _b1, p)));
        var v = Mx.Add(Mx.Multiply(s["v"], Scalar(_b2, p)), Mx.Multiply(Mx.Square(g), Scalar(1 - _b2, p)));
        s["m"] = m;
        s["v"] = v;
        if (_biasCorrection)
        {
            int t = Step + 1;
            var mHat = Mx.Divide(m, Scalar(1 - Math.Pow(_b1, t), p));
            var vHat = Mx.Divide(v, Scalar(1 - Math.Pow(_b2, t), p));
            return Mx.Subtract(p, Mx.Divide(Mx.Multiply(mHat, Scalar(lr, p)), Mx.Add(Mx.Sqrt(vHat), Scalar(_eps, p))));
        }
        return Mx.Subtract(p, Mx.Divide(Mx.Multiply(m, Scalar(lr, p)), Mx.Add(Mx.Sqrt(v), Scalar(_eps, p))));
    }
}

/// <summary>Adam with decoupled weight decay: p <- p (1 - lr wd), then the Adam step.</summary>
public sealed class AdamW : Adam
{
    private readonly double _wd;

    public AdamW(LearningRate learningRate, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.01, bool biasCorrection = false)
        : base(learningRate, beta1, beta2, eps, biasCorrection) => _wd = weightDecay;

    protected override MxArray ApplySingle(MxArray g, MxArray p, Dictionary<string, MxArray> s, double lr) =>
        AdamStep(g, Mx.Multiply(p, Scalar(1 - lr * _wd, p)), s, lr);
}

public sealed class Adamax : Optimizer
{
    private readonly double _b1, _b2, _eps;

    public Adamax(LearningRate learningRate, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8) : base(learningRate) => (_b1, _b2, _eps) = (beta1, beta2, eps);

    protected override void Init(MxArray p, Dictionary<string, MxArray> s)
    {
        s["m"] = Mx.ZerosLike(p);
        s["v"] = Mx.ZerosLike(p);
    }

    protected override MxArray ApplySingle(MxArray g, MxArray p, Dictionary<string, MxArray> s, double lr)
    {
        var m = Mx.Add(Mx.Multiply(s["m"], Scalar(_b1, p)), Mx.Multiply(g, Scalar(1 - _b1, p)));
        var v = Mx.Maximum(Mx.Multiply(s["v"], Scalar(_b2, p)), Mx.Abs(g));
        s["m"] = m;
        s["v"] = v;
        return Mx.Subtract(p, Mx.Divide(Mx.Multiply(m, Scalar(lr, p)), Mx.Add(v, Scalar(_eps, p))));
    }
}

public sealed class Lion : Optimizer
{
    private readonly double _b1, _b2, _wd;

    public Lion(LearningRate learningRate, double beta1 = 0.9, double beta2 = 0.99, double weightDecay = 0) : base(learningRate) => (_b1, _b2, _wd) = (beta1, beta2, weightDecay);

    protected override void Init(MxArray p, Dictionary<string, MxArray> s) => s["m"] = Mx.ZerosLike(p);

    protected override MxArray ApplySingle(MxArray g, MxArray p, Dictionary<string, MxArray> s, double lr)
    {
        var m = s["m"];
        var c = Mx.Add(Mx.Multiply(m, Scalar(_b1, p)), Mx.Multiply(g, Scalar(1 - _b1, p)));
        s["m"] = Mx.Add(Mx.Multiply(m, Scalar(_b2, p)), Mx.Multiply(g, Scalar(1 - _b2, p)));
        if (_wd > 0) p = Mx.Multiply(p, Scalar(1 - lr * _wd, p));
        return Mx.Subtract(p, Mx.Multiply(Mx.Sign(c), Scalar(lr, p)));
    }
}

/// <summary>Adafactor (factored second moments for matrices), with MLX's defaults and a given learning rate.</summary>
public sealed class Adafactor : Optimizer
{
    private readonly double _eps1, _clip, _decay, _b1;

    public Adafactor(LearningRate learningRate, double eps = 1e-30, double clipThreshold = 1.0, double decayRate = -0.8, double? beta1 = null) : base(learningRate) =>
        (_eps1, _clip, _decay, _b1) = (eps, clipThreshold, decayRate, beta1 ?? 0);

    protected override void Init(MxArray p, Dictionary<string, MxArray> s)
    {
        if (p.NDim >= 2)
        {
            s["vr"] = Mx.Zeros(p.Shape[..^1], p.DType);
            s["vc"] = Mx.Zeros(p.Shape[..^2].Append(p.Shape[^1]).ToArray(), p.DType);
        }
        else
        {
            s["v"] = Mx.ZerosLike(p);
        }
        if (_b1 > 0) s["m"] = Mx.ZerosLike(p);
    }

    protected override MxArray ApplySingle(MxArray g, MxArray p, Dictionary<string, MxArray> s, double lr)
    {
        double beta2 = 1.0 - Math.Pow(Step + 1, _decay);
        var g2 = Mx.Add(Mx.Square(g), Scalar(_eps1, p));
        MxArray update;
        if (p.NDim >= 2)
        {
            var vr = Mx.Add(Mx.Multiply(s["vr"], Scalar(beta2, p)), Mx.Multiply(Mx.Mean(g2, -1), Scalar(1 - beta2, p)));
            var vc = Mx.Add(Mx.Multiply(s["vc"], Scalar(beta2, p)), Mx.Multiply(Mx.Mean(g2, -2), Scalar(1 - beta2, p)));
            s["vr"] = vr;
            s["vc"] = vc;
            var rFactor = Mx.Rsqrt(Mx.Divide(vr, Mx.Mean(vr, -1, keepDims: true)));
            var cFactor = Mx.Rsqrt(vc);
            update = Mx.Multiply(Mx.Multiply(Mx.ExpandDims(rFactor, -1), Mx.ExpandDims(cFactor, -2)), g);
        }
        else
        {
            var v = Mx.Add(Mx.Multiply(s["v"], Scalar(beta2, p)), Mx.Multiply(g2, Scalar(1 - beta2, p)));
            s["v"] = v;
            update = Mx.Multiply(Mx.Rsqrt(v), g);
        }
        var rms = Mx.Sqrt(Mx.Mean(Mx.Square(update)));
        update = Mx.Divide(update, Mx.Maximum(Mx.Divide(rms, Scalar(_clip, p)), Scalar(1.0, p)));
        update = Mx.Multiply(update, Scalar(lr, p));
        if (_b1 > 0)
        {
            var m = Mx.Add(Mx.Multiply(s["m"], Scalar(_b1, p)), Mx.Multiply(update, Scalar(1 - _b1, p)));
            s["m"] = m;
            update = m;
        }
        return Mx.Subtract(p, update);
    }
}

/// <summary>Learning-rate schedules of mlx.optimizers.</summary>
public static class Schedules
{
    public static Func<int, double> ExponentialDecay(double init, double decayRate) => step => init * Math.Pow(decayRate, step);

    public static Func<int, double> StepDecay(double init, double decayRate, int stepSize) => step => init * Math.Pow(decayRate, step / stepSize);

    public static Func<int, double> CosineDecay(double init, int decaySteps, double end = 0) =>
        step => end + (init - end) * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(step, decaySteps) / decaySteps));

    public static Func<int, double> LinearSchedule(double init, double end, int steps) =>
        step => step >= steps ? end : init + (end - init) * step / steps;

    /// <summary>Runs schedules one after another; <paramref name="boundaries"/>[i] is the step where schedule i+1 starts (counting from 0 again).</summary>
    public static Func<int, double> JoinSchedules(Func<int, double>[] schedules, int[] boundaries)
    {
        if (boundaries.Length != schedules.Length - 1) throw new ArgumentException("join_schedules needs one boundary fewer than schedules.");
        return step =>
        {
            int i = 0;
            while (i < boundaries.Length && step >= boundaries[i]) i++;
            return schedules[i](i == 0 ? step : step - boundaries[i - 1]);
        };
    }
}

public static class Clip
{
    /// <summary>Scales gradients so their global L2 norm is at most <paramref name="maxNorm"/>; returns them and the norm before.</summary>
    public static (Dictionary<string, MxArray> Grads, MxArray Norm) ClipGradNorm(IReadOnlyDictionary<string, MxArray> grads, double maxNorm)
    {
        var total = grads.Values.Select(g => Mx.Sum(Mx.Square(g))).Aggregate((a, b) => Mx.Add(a, b));
        var norm = Mx.Sqrt(total);
        var scale = Mx.Minimum(Mx.Divide(Mx.Array((float)maxNorm), Mx.Add(norm, 1e-6)), Mx.Array(1f));
        return (grads.ToDictionary(kv => kv.Key, kv => Mx.Multiply(kv.Value, Mx.AsType(scale, kv.Value.DType))), norm);
    }
}
