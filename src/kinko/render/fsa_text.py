# ruff: noqa: E501  (Japanese sentences: ruff counts each wide character twice)
"""The FSA report's words in Japanese and English (see :mod:`kinko.render.fsa`).

``TEXT`` holds headings and sentences (some with ``str.format`` fields), ``WORDS`` the
translation of the values kinko records (tiers, states, kinds), ``KIND_DOC`` what each
screening rule kind catches. Japanese follows the FSA's and the ordinance's wording:
ホットウォレット, コールドウォレット, 履行保証暗号資産, 分別管理, 不正送金, 返金（補償）,
原資, 異常な送金依頼の検知.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KIND_DOC", "TEXT", "WORDS"]

TEXT: dict[str, dict[str, Any]] = {
    "ja": {
        "title": "暗号資産の管理体制等に関する報告書",
        "generated": "作成日時", "policy": "管理方針の版",
        "built_from": "kinko の記録のみに基づき作成",
        "questions": [
            "1. 利用者から預かった暗号資産のうちホットウォレット（オンライン）で管理している額と割合",
            "2. ウォレットの運用体制", "3. 異常な送金依頼の検知体制（不正送金の検知を含む）",
            "4. サイバー攻撃への対応体制"],
        "unknown": "未評価", "pass": "適合", "fail": "不適合",
        "appendix": "添付資料（CSV）",
        "appendix_text": "fsa-positions.csv（暗号資産ごとの管理状況）、fsa-alerts.csv（アラート）、"
                         "fsa-timeline.csv（時系列）を本報告書と同じフォルダに出力した。数量は各暗号資産の"
                         "単位による正確な値、時刻は日本時間（+09:00）である。",
        "s1": "1. 利用者の暗号資産の管理状況（分別管理）",
        "s1_as_of": "本節の数値は {when} 時点の帳簿による。",
        "s1_intro": "kinko の帳簿（複式簿記、改ざん検知付き）から、暗号資産ごとに、利用者から預かった"
                    "暗号資産の額、ホットウォレット・ウォームウォレット（オンライン）及びコールドウォレット"
                    "（オフライン）の保有額、オンライン管理比率と上限（5%）への適合、履行保証暗号資産の"
                    "充足を示す。",
        "asset": "暗号資産", "online": "オンライン管理（合計）", "ratio_test": "5%基準",
        "coverage": "履行保証の充足",
        "total": "全暗号資産（円換算）：オンライン管理 {online} ／ 全体 {total} ＝ {share}"
                 "（上限 {limit}）：{verdict}",
        "warm_hot": "本報告ではウォームウォレットをオンライン管理に含める。",
        "warm_cold": "管理方針により、ウォームウォレットはオフライン管理として扱う。",
        "s2": "2. ウォレットの運用体制",
        "s2_intro": "ウォレットごとの区分（ホット・ウォーム・コールド）、アドレス、帳簿残高及び鍵の管理方法。",
        "wallet": "ウォレット", "tier": "区分", "addresses": "アドレス", "balance": "帳簿残高",
        "keys": "鍵の管理",
        "key_custody": "鍵の管理：ホットウォレットの秘密鍵は暗号化されたキーストア（Web3 Secret "
                       "Storage 形式）に保管し、パスワードは環境変数からのみ読み込み、データベース・ログ・"
                       "エラーメッセージには出力しない。ウォームウォレット及びコールドウォレットの秘密鍵を "
                       "kinko は保持しない（監視専用）。コールドウォレットからの送金はオフラインの署名者が"
                       "行い、kinko は承認済みの署名依頼を出すのみである。",
        "s2_limits": "2.1 管理上限と移管・補充のルール",
        "target": "目標比率（移管後）", "hot_min": "ホット下限額（補充）",
        "hot_max": "ホット上限額", "cold_wallet": "移管先", "emergency_address": "緊急移管先アドレス",
        "sweep_rule": "移管（スイープ）：オンライン管理比率が上限を超えた場合、又はホットウォレット残高が"
                      "上限額を超えた場合、目標比率まで下げるホットウォレットからコールドウォレットへの"
                      "移管を提案する。",
        "refill_rule": "補充：ホットウォレット残高が下限額を下回った場合、上限比率の範囲内でコールド"
                       "ウォレットからの補充を提案する。いずれの移管も、管理方針に登録された承認者のうち"
                       "定足数（m-of-n）の電子署名（Ed25519）による承認がなければ実行されない。提案者は"
                       "自ら承認できず、承認には有効期限がある。",
        "s2_governance": "2.2 承認者と定足数",
        "no_policy": "管理方針が読み込まれていない。",
        "governance": "管理方針 第{version}版（ダイジェスト {digest}…）：承認者 {n} 名のうち "
                      "{quorum} 名の承認で実行（m-of-n）。提案の有効期限は {ttl} 時間。管理方針の変更"
                      "にも同じ定足数の承認を要する。",
        "approver": "承認者", "key_fingerprint": "公開鍵（先頭16桁）",
        "s2_moves": "2.3 移管・補充の提案と実施",
        "id": "ID", "kind": "種別", "amount": "数量", "state": "状態", "approvals": "承認",
        "created": "提案日時", "emergency": "インシデント",
        "raised": "発生日時", "chain_state": "チェーン上の状態", "block": "ブロック",
        "incident": "インシデント",
        "s3": "3. 異常な送金依頼の検知及び不正送金の検知体制",
        "s3_intro": "出金依頼は署名の前に審査ルールで審査し（異常な送金依頼の検知）、ウォッチは全ウォレット"
                    "からの送金を承認済みの出金・移管と照合する（不正送金の検知）。",
        "s3_rules": "3.1 異常な送金依頼の検知（出金審査ルール）",
        "rules_intro": "有効な管理方針の審査ルール。すべてのルールを評価し、最も厳しい措置を適用する"
                       "（ブレーカー作動中は少なくとも保留）。判定は該当したルールとともに記録される。",
        "rule": "ルール名", "params": "パラメータ", "action": "措置", "reason": "理由",
        "all_assets": "全資産",
        "deny_listed": "拒否リストに登録されたアドレス数：{n:,}",
        "s3_watch": "3.2 不正送金の検知（ウォッチ）",
        "watch_match": "ウォレットから出ていく送金はすべて、kinko が承認した出金・移管と照合する（kinko が"
                       "署名した取引はハッシュで、それ以外は送金元・送金先・数量・ノンスで）。一致しない送金は"
                       "不正送金として重大アラートを発し、インシデントを起票し、当該資産のブレーカーを作動させ、"
                       "緊急移管を準備し、通知する。",
        "watch_setup": "確定に必要な承認ブロック数：{confirmations}。ノード：{node}。メモリプール：{mempool}。",
        "no_node": "未設定（本報告の作成時にはチェーンに接続していない）",
        "mempool_yes": "毎回の巡回でノードの未承認取引（txpool）を読み、ブロック取込前に検知する"
                       "（ノードが公開している場合）",
        "mempool_no": "ノード未設定のため本報告の作成時には読んでいない（ウォッチは巡回ごとに読む）",
        "watch_policy": "残高急減アラート：説明のつかない減少が {window} 秒以内に {drop}% を超えた場合。"
                        "緊急移管：{sweep}。ブレーカー：{trip}。",
        "trip_global": "全資産の出金を停止", "trip_asset": "当該資産の出金を停止",
        "chain": "チェーン", "checkpoint": "ウォッチの処理済みブロック",
        "s3_alerts": "3.3 検知の記録（アラート）",
        "alerts_intro": "記録されたアラート {n:,} 件（発生順に最大 {shown} 件を表示。全件は CSV 添付資料）。",
        "latency_alerts": "アラートには発生時刻とチェーン上の状態（未承認・取込済み・確定・取消）が記録"
                          "される。盗難取引のブロック時刻はストアに記録されていないため、アラートからは"
                          "検知遅延を算出していない。",
        "s3_latency": "3.4 測定された検知遅延",
        "no_latency": "ベンチマーク結果（benchmarks/RESULTS.md）が読めないため、測定値は記載しない。",
        "latency_source": "出典：{source}（kinko のベンチマーク。測定日・条件は次の原文のとおり）",
        "figure": "測定", "thefts": "件数", "broadcast_alarm": "送信→警報 p50 / p95 / 最大 (ms)",
        "inclusion_alarm": "ブロック取込→警報 p50 / p95 / 最大 (ms)",
        "before_inclusion": "取込前に警報",
        "latency_note": "負の値はブロックに取り込まれる前に警報したことを示す。参考：2018年1月の事案では、"
                        "流出開始（00:02）から検知（11:25）まで約8時間半を要した。",
        "s4": "4. サイバー攻撃への対応体制",
        "s4_intro": "不正送金を検知した時点で、出金停止（ブレーカー）、残高の緊急移管、流出先の追跡と"
                    "他の交換業者へのブラックリスト共有、関係者への通知を行う。",
        "s4_breaker": "4.1 出金停止（サーキットブレーカー）",
        "breaker_rule": "ブレーカーは資産ごと（又は全資産）に作動し、作動中の出金はすべて保留（承認待ち）と"
                        "なる。不正送金アラート又は流出速度ルールで作動し、解除には承認者の定足数の承認を要する。",
        "breaker_tripped": "現在作動中：{scopes}", "breaker_clear": "現在作動しているブレーカーはない。",
        "global": "全資産", "at": "日時", "scope": "対象", "event": "事象", "by": "実施者",
        "s4_sweep": "4.2 緊急移管（残高の退避）",
        "sweep_mode": "管理方針：{mode}。攻撃者も同じ鍵を持つため、残高の退避は攻撃者との競争となる。"
                      "実施した緊急移管：",
        "tx": "取引ハッシュ",
        "s4_trace": "4.3 流出先の追跡とブラックリストの共有",
        "no_trace": "追跡結果は指定されていない（kinko report fsa --trace DIR）。",
        "trace_summary": "追跡（{folder}、方式 {policy}）：起点取引 {seeds} 件、追跡額 {seeded}、"
                         "未移動 {held}、交換業者等への到達 {absorbed}、手数料 {burned}（{conserved}）。"
                         "流出資金を受け取ったアドレス {tainted} 件。",
        "conserved": "保存則を確認済み", "not_checked": "poison 方式のため保存則は検査対象外",
        "not_conserved": "保存則に不一致",
        "blacklist": "他の交換業者向けブラックリスト：{file}（{n} アドレス）",
        "no_blacklist": "ブラックリストのファイルは見当たらない。",
        "s4_notices": "4.4 通知",
        "notices_intro": "アラートは署名付き（HMAC-SHA256）Webhook で通知する。送信待ちの記録（アウト"
                         "ボックス）は再起動後も再送される。",
        "alert": "アラート", "attempts": "送信回数", "next": "次回送信", "error": "エラー",
        "entity": "交換業者等", "category": "区分", "exposure": "到達額", "addresses_n": "アドレス数",
        "detail": "内容",
        "s5": "5. 不正送金事案 {id}",
        "incident_overview": "件名：{title}。状態：{state}。暗号資産：{asset}。ウォレット：{wallet}。"
                             "発生：{opened}。終結：{closed}。",
        "s5_timeline": "5.1 経緯（時系列）",
        "s5_cause": "5.2 原因（記録のとおり）",
        "cause_intro": "運用者が記録した原因・所見（原文のとおり）：",
        "no_cause": "原因はまだ記録されていない（kinko incidents note で記録する）。",
        "s5_lost": "5.3 流出した暗号資産",
        "lost_alerts": "不正送金アラートの合計", "lost_ledger": "帳簿上の損失（loss 勘定）",
        "lost_yen": "円換算（参照価格）",
        "lost_note": "流出額は不正送金アラートの数量（チェーン再編成で取り消されたものを除く）及び帳簿に"
                     "計上した損失勘定の残高である。利用者の預り残高は流出後も全額のままである（分別管理）。",
        "s5_refund": "5.4 影響を受けた利用者と返金（補償）計画",
        "customers_affected": "影響を受けた利用者：{n} 名（{source}）。",
        "from_plan": "返金計画のスナップショットによる",
        "from_ledger": "現在 {asset} を保有する利用者数（帳簿）",
        "no_plan": "返金計画は指定されていない（kinko report fsa --refund-plan DIR）。",
        "item": "項目", "value": "内容", "plan_id": "計画ID",
        "snapshot": "基準時点（流出時の帳簿）", "ref_price": "参照価格", "rounding": "端数処理",
        "customers": "対象利用者数", "total_units": "対象数量", "total_yen": "返金総額",
        "exact_total": "端数処理前の総額", "remainder": "端数処理による差額",
        "csv_digest": "利用者別明細（refunds.csv）の SHA-256", "digest_ok": "一致を確認",
        "digest_none": "明細ファイルなし", "digest_bad": "不一致",
        "s5_funds": "5.5 返金の原資の確認",
        "available": "原資（帳簿上の円資金）", "required": "返金に必要な額", "funds_check": "判定",
        "funds_ok": "原資確認済み", "funds_short": "原資不足：{short}",
        "funds_note": "原資は kinko の帳簿に記録された銀行預金勘定の合計から、利用者から預かった円（分別管理の対象）を"
                      "控除した額である。利用者の円預りを返金に充てることはない。",
        "funds_as_of": "基準時点", "bank_yen": "銀行預金（帳簿）", "customers_yen": "利用者の円預り（控除）",
        "no_funds_check": "返金計画が指定されていないため、原資の確認は本報告に含まれない。",
        "s5_trace": "5.6 追跡結果（交換業者ごとの到達額）",
        "s5_measures": "5.7 講じた措置",
        "chart_share": "保有額に占める割合 (%)", "chart_time": "日時 (JST)",
        "chart_custody": "暗号資産ごとのホットウォレット／コールドウォレット比率",
        "chart_timeline": "インシデントの時系列", "chart_trace": "流出資金の追跡グラフ",
    },
    "en": {
        "title": "Report to the FSA: custody of customer crypto-assets and response to "
                 "unauthorized transfers",
        "generated": "Generated", "policy": "Policy version",
        "built_from": "built only from kinko's records",
        "questions": [
            "1. Amount and share of customer crypto-assets held online (hot wallets)",
            "2. How wallets are operated",
            "3. How abnormal withdrawal requests and unauthorized outflows are detected",
            "4. How cyberattacks are answered"],
        "unknown": "not assessed", "pass": "pass", "fail": "FAIL",
        "appendix": "Appendix (CSV)",
        "appendix_text": "fsa-positions.csv (positions per asset), fsa-alerts.csv (alerts) and "
                         "fsa-timeline.csv (timeline) are written beside this report. Amounts "
                         "are exact in each asset's units; times are Japan time (+09:00).",
        "s1": "1. Customer crypto-assets held online and offline (segregation)",
        "s1_as_of": "The figures of this section are the ledger's as of {when}.",
        "s1_intro": "From kinko's ledger (double entry, tamper-evident), per asset: what "
                    "customers are owed, what is held in hot and warm wallets (online) and in "
                    "cold wallets (offline), the online share against its limit (5%), and "
                    "the performance-guarantee crypto.",
        "asset": "Asset", "online": "Online (total)", "ratio_test": "5% test",
        "coverage": "Guarantee covered",
        "total": "All crypto-assets by yen value: online {online} / total {total} = {share} "
                 "(limit {limit}): {verdict}",
        "warm_hot": "Warm wallets count as online in this report.",
        "warm_cold": "By the policy, warm wallets count as offline.",
        "s2": "2. How wallets are operated",
        "s2_intro": "Each wallet's tier (hot, warm, cold), addresses, ledger balance and who "
                    "holds its key.",
        "wallet": "Wallet", "tier": "Tier", "addresses": "Addresses", "balance": "Balance",
        "keys": "Key custody",
        "key_custody": "Key custody: hot wallet keys are kept in encrypted keystores (Web3 "
                       "Secret Storage); the password comes from the environment only and is "
                       "never written to the database, logs or error messages. kinko holds no "
                       "key of any warm or cold wallet (watch-only): transfers out of cold "
                       "storage are signed offline, kinko only issues the approved request.",
        "s2_limits": "2.1 Limits, sweeps and refills",
        "target": "Target (after a sweep)", "hot_min": "Hot minimum (refill)",
        "hot_max": "Hot maximum", "cold_wallet": "Sweeps to",
        "emergency_address": "Emergency address",
        "sweep_rule": "Sweep: when the online share exceeds its limit, or the hot balance its "
                      "maximum, a move from the hot to the cold wallet down to the target share "
                      "is proposed.",
        "refill_rule": "Refill: when the hot balance falls below its minimum, a refill from "
                       "cold storage is proposed, within the limit. No move executes without "
                       "the Ed25519 signatures of a quorum (m of n) of the policy's approvers; "
                       "the proposer cannot approve, and approvals expire.",
        "s2_governance": "2.2 Approvers and quorum",
        "no_policy": "No custody policy is loaded.",
        "governance": "Policy version {version} (digest {digest}…): {quorum} of {n} approvers "
                      "must sign (m of n). Proposals expire after {ttl} hours. A change of "
                      "the policy itself needs the same quorum.",
        "approver": "Approver", "key_fingerprint": "Public key (first 16 hex)",
        "s2_moves": "2.3 Sweeps and refills proposed and executed",
        "id": "ID", "kind": "Kind", "amount": "Amount", "state": "State",
        "approvals": "Approvals", "created": "Proposed", "emergency": "Incident",
        "raised": "Raised", "chain_state": "On chain", "block": "Block", "incident": "Incident",
        "s3": "3. Detection of abnormal withdrawal requests and unauthorized transfers",
        "s3_intro": "Every withdrawal request is screened by rules before it is signed "
                    "(abnormal requests); the watch matches every transfer leaving our wallets "
                    "against the withdrawals and moves kinko approved (unauthorized outflows).",
        "s3_rules": "3.1 Detection of abnormal withdrawal requests (screening rules)",
        "rules_intro": "The active policy's rules. Every rule is evaluated and the strictest "
                       "action applies (at least review while a breaker is tripped); each "
                       "decision is recorded with the rules it hit.",
        "rule": "Rule", "params": "Parameters", "action": "Action", "reason": "Reason",
        "all_assets": "all assets",
        "deny_listed": "Addresses on the deny lists: {n:,}",
        "s3_watch": "3.2 Detection of unauthorized outflows (the watch)",
        "watch_match": "Every transfer leaving an exchange wallet must match a withdrawal or "
                       "move kinko approved (by transaction hash for what kinko signed, else by "
                       "sender, receiver, value and nonce). One that matches nothing raises a "
                       "critical alert, opens an incident, trips the asset's breaker, prepares "
                       "the emergency sweep and notifies.",
        "watch_setup": "Confirmations before final: {confirmations}. Node: {node}. Mempool: "
                       "{mempool}.",
        "no_node": "none configured (no chain was read for this report)",
        "mempool_yes": "read every round (txpool), so a theft alarms before it is mined where "
                       "the node exposes it",
        "mempool_no": "not read for this report (no node); the watch reads it every round",
        "watch_policy": "Balance-drop alarm: an unexplained fall of more than {drop}% within "
                        "{window} s. Emergency sweep: {sweep}. Breaker: {trip}.",
        "trip_global": "every asset is stopped", "trip_asset": "the asset is stopped",
        "chain": "Chain", "checkpoint": "Watch checkpoint (block)",
        "s3_alerts": "3.3 Alerts recorded",
        "alerts_intro": "{n:,} alerts recorded (up to {shown} shown in order; all in the CSV "
                        "appendix).",
        "latency_alerts": "Alerts record when they were raised and their chain state "
                          "(pending, mined, final, retracted). The theft's block time is not "
                          "stored, so no latency is computed from the alerts.",
        "s3_latency": "3.4 Measured detection latency",
        "no_latency": "No benchmark results (benchmarks/RESULTS.md) could be read: no "
                      "measured figure is given.",
        "latency_source": "Source: {source} (kinko's benchmark; date and conditions as "
                          "recorded):",
        "figure": "Figure", "thefts": "Thefts",
        "broadcast_alarm": "Broadcast → alarm p50 / p95 / max (ms)",
        "inclusion_alarm": "Inclusion → alarm p50 / p95 / max (ms)",
        "before_inclusion": "Alarmed before inclusion",
        "latency_note": "Negative: the alarm came before the block. For comparison, in "
                        "January 2018 the theft began at 00:02 and was noticed at 11:25, about "
                        "eight and a half hours later.",
        "s4": "4. Response to cyberattacks",
        "s4_intro": "When an unauthorized transfer is detected: withdrawals stop (breaker), "
                    "what is left is swept to safety, the coins are traced and a blacklist is "
                    "shared with other exchanges, and people are notified.",
        "s4_breaker": "4.1 Circuit breaker",
        "breaker_rule": "A breaker per asset (or global) holds every withdrawal for review "
                        "while tripped. A theft alert or the outflow-rate rule trips it; only "
                        "the approvers' quorum resets it.",
        "breaker_tripped": "Tripped now: {scopes}", "breaker_clear": "No breaker is tripped.",
        "global": "global", "at": "Time", "scope": "Scope", "event": "Event", "by": "By",
        "s4_sweep": "4.2 Emergency sweep",
        "sweep_mode": "Policy: {mode}. The attacker holds the same key: the sweep is a race. "
                      "Emergency sweeps made:",
        "tx": "Transaction",
        "s4_trace": "4.3 Tracing and blacklist sharing",
        "no_trace": "No trace given (kinko report fsa --trace DIR).",
        "trace_summary": "Trace ({folder}, policy {policy}): {seeds} seed transactions, "
                         "{seeded} traced, {held} still held, {absorbed} reached exchanges and "
                         "other stops, {burned} in fees ({conserved}); {tainted} addresses "
                         "received stolen funds.",
        "conserved": "conservation holds", "not_checked": "poison: conservation not checked",
        "not_conserved": "conservation does NOT hold",
        "blacklist": "Blacklist for other exchanges: {file} ({n} addresses)",
        "no_blacklist": "No blacklist file was found.",
        "s4_notices": "4.4 Notices",
        "notices_intro": "Alerts are sent to a signed (HMAC-SHA256) webhook; the outbox "
                         "survives restarts and is retried.",
        "alert": "Alert", "attempts": "Attempts", "next": "Next attempt", "error": "Error",
        "entity": "Exchange or entity", "category": "Category", "exposure": "Exposure",
        "addresses_n": "Addresses", "detail": "Detail",
        "s5": "5. Unauthorized transfer incident {id}",
        "incident_overview": "Title: {title}. State: {state}. Asset: {asset}. Wallet: {wallet}. "
                             "Opened: {opened}. Closed: {closed}.",
        "s5_timeline": "5.1 Timeline",
        "s5_cause": "5.2 Cause, as recorded",
        "cause_intro": "Cause and findings as the operators recorded them:",
        "no_cause": "No cause has been recorded yet (kinko incidents note).",
        "s5_lost": "5.3 Crypto-assets lost",
        "lost_alerts": "Theft alerts (sum)", "lost_ledger": "Booked loss (loss account)",
        "lost_yen": "In yen (reference price)",
        "lost_note": "Amounts lost are the theft alerts' amounts (those a reorganisation "
                     "retracted excluded) and the incident's loss account in the ledger. "
                     "Customers' balances stay whole after the theft (segregation).",
        "s5_refund": "5.4 Customers affected and the refund plan",
        "customers_affected": "Customers affected: {n} ({source}).",
        "from_plan": "from the refund plan's snapshot",
        "from_ledger": "customers holding {asset} now, from the ledger",
        "no_plan": "No refund plan given (kinko report fsa --refund-plan DIR).",
        "item": "Item", "value": "Value", "plan_id": "Plan", "snapshot": "Snapshot",
        "ref_price": "Reference price", "rounding": "Rounding", "customers": "Customers",
        "total_units": "Amount refunded", "total_yen": "Total refund",
        "exact_total": "Exact total before rounding", "remainder": "Rounding remainder",
        "csv_digest": "SHA-256 of refunds.csv", "digest_ok": "verified",
        "digest_none": "file not present", "digest_bad": "MISMATCH",
        "s5_funds": "5.5 Source of the refund funds",
        "available": "Yen funds in the ledger", "required": "Needed for the refunds",
        "funds_check": "Check", "funds_ok": "funds confirmed",
        "funds_short": "funds short by {short}",
        "funds_note": "The funds are the bank accounts recorded in kinko's ledger less the "
                      "yen customers hold with the exchange (segregated): customers' own yen "
                      "never pays for the refunds.",
        "funds_as_of": "As of", "bank_yen": "Bank accounts (ledger)",
        "customers_yen": "Customers' yen (deducted)",
        "no_funds_check": "No refund plan was given: the funds check is not part of this "
                          "report.",
        "s5_trace": "5.6 Trace: exposure per exchange",
        "s5_measures": "5.7 Measures taken",
        "chart_share": "share of holdings (%)", "chart_time": "time (JST)",
        "chart_custody": "Hot and cold share per asset", "chart_timeline": "Incident timeline",
        "chart_trace": "Flow of the stolen coins",
    },
}

WORDS: dict[str, dict[str, str]] = {
    "ja": {
        "hot": "ホットウォレット", "warm": "ウォームウォレット", "cold": "コールドウォレット",
        "keystore": "暗号化キーストア", "keystore_missing": "暗号化キーストア（本環境に見当たらず）",
        "keystore_unchecked": "暗号化キーストア（未確認）",
        "watch_only": "監視専用（kinko は鍵を保持しない）",
        "sweep": "移管（スイープ）", "refill": "補充",
        "pending": "承認待ち", "approved": "承認済み", "sending": "送信中", "sent": "送信済み",
        "executed": "実行済み", "requested": "署名依頼済み", "failed": "失敗", "rejected": "却下",
        "expired": "期限切れ", "queued": "送信待ち",
        "theft": "不正送金", "balance_drop": "残高急減", "denied_deposit": "拒否リストからの入金",
        "cosign_refused": "共同署名者による署名拒否",
        "policy_loosening": "管理方針の緩和（適用待ち・拒否可能）",
        "mined": "取込済み", "final": "確定", "retracted": "取消（再編成）",
        "allow": "許可", "review": "保留（承認者の確認）", "block": "拒否",
        "sweep_auto": "自動（管理方針で事前承認、検知と同時に送信）",
        "sweep_quorum": "定足数の承認後に送信",
        "trip": "作動", "reset": "解除",
        "open": "対応中", "contained": "封じ込め済み", "resolved": "解決済み",
        "opened": "起票", "alert": "アラート", "breaker": "ブレーカー", "approval": "承認",
        "state": "状態変更", "loss": "損失計上", "notice": "通知", "trace": "追跡",
        "note": "記録", "cause": "原因", "ack": "確認", "chain": "チェーン", "refund": "返金",
        "amount": "上限額", "tier": "顧客区分", "scope": "対象", "duration": "期間",
        "max_amount": "上限額", "max_count": "上限回数", "max_share": "上限割合",
        "cooling_off": "待機期間", "threshold": "閾値", "min_history": "最少履歴数",
        "start_hour": "開始時", "end_hour": "終了時", "baseline_windows": "基準期間数",
        "factor": "倍率", "min_amount": "最小額",
        "price_fixed": "固定価格", "price_vwap": "出来高加重平均価格",
        "trades_file": "約定データ", "from": "期間開始", "to": "期間終了", "trades": "約定件数",
        "sum_price_volume": "価格×数量の合計", "sum_volume": "数量の合計",
        "vwap_exact": "加重平均（正確な値）", "floor": "切り捨て", "half-up": "四捨五入",
    },
    "en": {
        "hot": "hot", "warm": "warm", "cold": "cold",
        "keystore": "encrypted keystore", "keystore_missing": "encrypted keystore (not found "
                                                             "here)",
        "keystore_unchecked": "encrypted keystore (not checked)",
        "watch_only": "watch-only (kinko holds no key)",
        "sweep_auto": "automatic (pre-authorised by the policy, sent on detection)",
        "sweep_quorum": "sent once the quorum approves",
        "theft": "theft", "balance_drop": "balance drop", "denied_deposit": "denied deposit",
        "cosign_refused": "refused by the co-signer",
        "policy_loosening": "policy loosening waiting (vetoable)",
        "review": "review (held for approvers)", "trip": "trip", "reset": "reset",
        "price_fixed": "fixed", "price_vwap": "volume-weighted average",
        "trades_file": "Trades file", "from": "Window from", "to": "Window to",
        "trades": "Trades", "sum_price_volume": "Σ price × volume", "sum_volume": "Σ volume",
        "vwap_exact": "VWAP (exact)", "max_amount": "max amount", "max_count": "max count",
        "max_share": "max share", "cooling_off": "cooling-off", "min_history": "min history",
        "start_hour": "from hour", "end_hour": "to hour",
        "baseline_windows": "baseline windows", "min_amount": "min amount",
    },
}

KIND_DOC: dict[str, dict[str, str]] = {
    "ja": {
        "max_amount": "1回の出金額の上限",
        "window": "一定期間内の出金額・回数の上限（顧客・宛先・資産・全体）",
        "hot_share": "ホットウォレット残高に対する1回の出金の割合",
        "allow_list": "出金先の登録（ホワイトリスト）と新規アドレスの待機期間",
        "deny_list": "拒否リスト（制裁・フィッシング・追跡結果等）に載った宛先",
        "zscore": "利用者自身の出金履歴からの乖離（ロバストzスコア）",
        "new_destination": "初めての出金先", "unusual_hour": "通常と異なる時間帯の依頼",
        "outflow_rate": "資産の流出速度が平常時の倍数を超過（ブレーカーを作動）",
    },
    "en": {
        "max_amount": "one withdrawal above a maximum",
        "window": "amount or count within a rolling window (customer, destination, asset, all)",
        "hot_share": "one withdrawal taking a large share of the hot wallet",
        "allow_list": "destination not on the allow list, or still cooling off",
        "deny_list": "destination on a deny list (sanctions, phishing, trace results)",
        "zscore": "amount far from the customer's own history (robust z-score)",
        "new_destination": "first withdrawal to this destination",
        "unusual_hour": "requested at an unusual hour",
        "outflow_rate": "the asset's outflow far above its baseline (trips the breaker)",
    },
}
