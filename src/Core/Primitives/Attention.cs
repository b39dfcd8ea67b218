using System.Numerics;
using Mlx.Kernels;

namespace Mlx;

/// <summary>
/// softmax(scale · Q Kᵀ) V without a mask or with the causal one, fused (mx.fast.scaled_dot_product_attention):
/// Q (B, H_q, L_q, D), K (B, H_kv, L_kv, D), V (B, H_kv, L_kv, D_v) of one float dtype, H_q a multiple of H_kv.
/// The CPU kernel never stores the (L_q x L_kv) probabilities; the derivatives recompute them with ops.
/// </summary>
internal sealed unsafe class ScaledDotProductAttentionPrimitive : Primitive
{
    private ScaledDotProductAttentionPrimitive(double scale, bool causal)
    {
        Scale = scale;
        Causal = causal;
    }

    public double Scale { get; }
    public bool Causal { get; }

    public override string Name => "ScaledDotProductAttention";

    public override bool IsEquivalent(Primitive other) =>
        other is ScaledDotProductAttentionPrimitive p && p.Scale.Equals(Scale) && p.Causal == Causal;

    /// <summary>Whether the fused op applies: float32/float64, equal batch sizes, as many values as keys.</summary>
    public static bool Supports(MxArray q, MxArray k, MxArray v) =>
        Dispatch.IsComputeFloat(q.DType) && q.DType == k.DType && q.DType == v.DType
        && q.ShapeRef[0] == k.ShapeRef[0] && q.ShapeRef[0] == v.ShapeRef[0] && k.ShapeRef[2] == v.ShapeRef[2];

    public static MxArray Create(MxArray q, MxArray k, MxArray v, double scale, bool causal) =>
        MxArray.Create(new[] { q.ShapeRef[0], q.ShapeRef[1], q.ShapeRef[2], v.ShapeRef[3] }, q.DType,
            new ScaledDotProductAttentionPrimitive(scale, causal), q, k, v);

    /// <summary>(L_q, L_kv) booleans: query i sees key j when j &lt;= i + L_kv - L_q (the last query sees every key).</summary>
    public static MxArray CausalMask(int lq, int lkv)
    {
        int offset = lkv - lq;
        return Mx.GreaterEqual(Mx.ExpandDims(Mx.Arange(offset, lq + offset), 1), Mx.ExpandDims(Mx.Arange(0, lkv), 0));
    }

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        outputs[0].AllocateData();
        var kernel = new Kernel { Q = inputs[0], K = inputs[1], V = inputs[2], O = outputs[0], Scale = Scale, Causal = Causal };
        Dispatch.Float(outputs[0].DType, ref kernel);
    }

    private struct Kernel : IFloatVisitor
    {
        public MxArray Q, K, V, O;
        public double Scale;
        public bool Causal;

        public void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T>
        {
            int[] qs = Q.ShapeRef, ks = K.ShapeRef;
            Attention.Run(qs[0], qs[1], ks[1], qs[2], ks[2], qs[3], V.ShapeRef[3], Q.Ptr<T>(), Q.Strides, K.Ptr<T>(), K.Strides,
                V.Ptr<T>(), V.Strides, O.Ptr<T>(), T.CreateChecked(Scale), Causal);
        }
    }

    // The GPU runs the composed ops (its matmul and softmax kernels) and the output shares their result.
    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        MxArray result;
        using (Mx.StreamScope(Device.Gpu))
        {
            result = Mlx.Nn.Nn.ComposedAttention(inputs[0], inputs[1], inputs[2], Scale, null, Causal, null);
            Mx.Eval(result);
        }
        outputs[0].SetView(result, result.Strides, result.Offset);
    }

    /// <summary>The operands with the query heads of one key head on their own axis: (B, H_kv, R, L, ·), K and V with R = 1.</summary>
    private static (MxArray Q, MxArray K, MxArray V) Grouped(MxArray q, MxArray k, MxArray v) =>
        (Group(q, k.ShapeRef[1]), Mx.ExpandDims(k, 2), Mx.ExpandDims(v, 2));

    private static MxArray Group(MxArray x, int kvHeads) => Mx.Unflatten(x, 1, new[] { kvHeads, x.ShapeRef[1] / kvHeads });

    /// <summary>P = softmax(scale · Q Kᵀ) on grouped operands, causal positions masked as the composed path does.</summary>
    private MxArray Probabilities(MxArray q5, MxArray k5)
    {
        var scores = Mx.Multiply(Mx.Matmul(q5, Mx.SwapAxes(k5, -1, -2)), Mx.Array(Scale, q5.DType));
        if (Causal)
        {
            scores = Mx.Where(CausalMask(q5.ShapeRef[3], k5.ShapeRef[3]), scores, Mx.Array(Mlx.Nn.Nn.LowestValue(q5.DType), q5.DType));
        }
        return Mx.Softmax(scores, -1, precise: true);
    }

    /// <summary>A derivative of the scores with the masked positions zeroed (their scores are constants).</summary>
    private MxArray Masked(MxArray dScores) =>
        Causal ? Mx.Where(CausalMask(dScores.ShapeRef[3], dScores.ShapeRef[4]), dScores, Mx.Array(0.0, dScores.DType)) : dScores;

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        var (q, k, v) = Grouped(primals[0], primals[1], primals[2]);
        var dO = Group(cotangents[0], primals[1].ShapeRef[1]);
        var p = Probabilities(q, k);
        var scale = Mx.Array(Scale, q.DType);
        MxArray? dS = null;
        // scale · dS with dS = P ∘ (dP - rowsum(dP ∘ P)) and dP = dO Vᵀ, built once for dQ and dK.
        MxArray ScaledScoreGrad()
        {
            if (dS is null)
            {
                var dP = Mx.Matmul(dO, Mx.SwapAxes(v, -1, -2));
                dS = Mx.Multiply(Masked(Mx.Multiply(p, Mx.Subtract(dP, Mx.Sum(Mx.Multiply(dP, p), -1, keepDims: true)))), scale);
            }
            return dS;
        }
        return argnums.Select(a => a switch
        {
            0 => Mx.Flatten(Mx.Matmul(ScaledScoreGrad(), k), 1, 2),
            1 => Mx.Sum(Mx.Matmul(Mx.SwapAxes(ScaledScoreGrad(), -1, -2), q), 2),
            _ => Mx.Sum(Mx.Matmul(Mx.SwapAxes(p, -1, -2), dO), 2),
        }).ToArray();
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs)
    {
        var (q, k, v) = Grouped(primals[0], primals[1], primals[2]);
        var p = Probabilities(q, k);
        MxArray? Tangent(int input)
        {
            int i = Array.IndexOf(argnums, input);
            return i < 0 ? null : Mx.AsType(tangents[i], q.DType);
        }
        var tq = Tangent(0);
        var tk = Tangent(1);
        var tv = Tangent(2);
        MxArray? result = null;
        if (tq is not null || tk is not null)
        {
            // Tangent of the scores, then of the softmax: P ∘ (dS - rowsum(P ∘ dS)).
            MxArray? ds = null;
            if (tq is not null) ds = Mx.Matmul(Group(tq, primals[1].ShapeRef[1]), Mx.SwapAxes(k, -1, -2));
            if (tk is not null)
            {
                var part = Mx.Matmul(q, Mx.SwapAxes(Mx.ExpandDims(tk, 2), -1, -2));
                ds = ds is null ? part : Mx.Add(ds, part);
            }
            ds = Masked(Mx.Multiply(ds!, Mx.Array(Scale, q.DType)));
            var dp = Mx.Multiply(p, Mx.Subtract(ds, Mx.Sum(Mx.Multiply(p, ds), -1, keepDims: true)));
            result = Mx.Matmul(dp, v);
        }
        if (tv is not null)
        {
            var part = Mx.Matmul(p, Mx.ExpandDims(tv, 2));
            result = result is null ? part : Mx.Add(result, part);
        }
        return new[] { Mx.Flatten(result!, 1, 2) };
    }

    // The mapped axis joins the batch axis: (N, B, ...) -> (N·B, ...) and back.
    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs)
    {
        int n = RuleHelpers.BatchSize(inputs, batched);
        var folded = inputs.Select((x, i) => Mx.Flatten(RuleHelpers.Lift(x, batched[i], n), 0, 1)).ToArray();
        var o = Create(folded[0], folded[1], folded[2], Scale, Causal);
        return new[] { Mx.Unflatten(o, 0, new[] { n, outputs[0].ShapeRef[0] }) };
    }
}
