import dagster as dg

from marketdata_pipeline.defs.features.assets import bar_features
from marketdata_pipeline.defs.features.sensors import features_automation_sensor

defs = dg.Definitions(assets=[bar_features], sensors=[features_automation_sensor])
