namespace Mlx;

public static partial class Mx
{
    /// <summary>Fused operations, as mlx.core.fast: one kernel where the composed ops would take several passes.</summary>
    public static class Fast
    {
        /// <summary>
        /// Layer normalization over the last axis: (x - mean) / sqrt(var + eps) * weight + bias, the variance biased;
        /// weight and bias (1-D, the last axis' length) are optional. float16/bfloat16 are computed in float32.
        /// </summary>
        public static MxArray LayerNorm(MxArray x, MxArray? weight, MxArray? bias, double eps = 1e-5, StreamOrDevice? stream = null)
        {
            using var placement = Place(stream);
            var operands = NormOperands("layer_norm", x, weight, bias);
            if (!PlacedOnCpu) return LayerNormPrimitive.Composed(operands[0], weight is null ? null : operands[1], bias is null ? null : operands[^1], eps);
            return MxArray.Create(x.ShapeRef, operands[0].DType, new LayerNormPrimitive(eps, weight is not null, bias is not null), operands);
        }

        /// <summary>RMS normalization over the last axis: x / sqrt(mean(x^2) + eps) * weight; weight (1-D) is optional.</summary>
        public static MxArray RmsNorm(MxArray x, MxArray? weight, double eps = 1e-5, StreamOrDevice? stream = null)
        {
            using var placement = Place(stream);
            var operands = NormOperands("rms_norm", x, weight, null);
            if (!PlacedOnCpu) return RmsNormPrimitive.Composed(operands[0], weight is null ? null : operands[1], eps);
            return MxArray.Create(x.ShapeRef, operands[0].DType, new RmsNormPrimitive(eps, weight is not null), operands);
        }

        // x, then the weight and bias present, all cast to their common floating dtype.
        private static MxArray[] NormOperands(string op, MxArray x, MxArray? weight, MxArray? bias)
        {
            if (x.NDim == 0)
                throw new ArgumentException($"[{op}] Input must have at least 1 dimension but got input with 0 dimensions.");
            var present = new[] { x, weight, bias }.Where(a => a is not null).Select(a => a!).ToArray();
            foreach (var (a, name) in new[] { (weight, "weight"), (bias, "bias") })
            {
                if (a is null) continue;
                if (a.NDim != 1)
                    throw new ArgumentException($"[{op}] {name} must have 1 dimension but has {a.NDim} dimensions.");
                if (a.ShapeRef[0] != x.ShapeRef[^1])
                    throw new ArgumentException($"[{op}] {name} has {a.ShapeRef[0]} elements but the input's last axis has {x.ShapeRef[^1]}.");
            }
            var dtype = ResultType(present);
            if (!dtype.IsFloating())
                throw new ArgumentException($"[{op}] Received unsupported type {dtype.Name()}: a floating type is needed.");
            return present.Select(a => AsType(a, dtype)).ToArray();
        }
    }
}
